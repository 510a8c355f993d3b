"""Four eyes: who may approve a risk exception or a rule override, and when a request applies
at once.

- A request by an account that cannot approve that kind of decision (an operator asking for
  an exception) waits for an approver, always.
- With POSTURE_FOUR_EYES on, every request waits for an approver other than its requester.
- With it off, an approver's own request is approved at once, by the requester.

Approving and rejecting are compare-and-set on the pending status, so two approvers clicking
at once decide once; the requester is refused at the database too (the UPDATE excludes them),
not only by the message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Model
from django.utils.translation import gettext as _

from policy.models import Review


class Refused(Exception):
    """An approval the rules forbid; the message is for the person who tried."""


def four_eyes() -> bool:
    return bool(getattr(settings, "POSTURE_FOUR_EYES", False))


def _account(user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def first_review(requester: Any, can_approve: bool, now: datetime) -> dict[str, Any]:
    """The review fields of a new request."""
    requester = _account(requester)
    if can_approve and not four_eyes():
        return {
            "status": Review.APPROVED,
            "requested_by": requester,
            "approved_by": requester,
            "approved_at": now,
        }
    return {"status": Review.PENDING, "requested_by": requester}


def approve(row: Model, reviewer: Any, now: datetime) -> bool:
    """Approve a pending request once; False when it was no longer pending. Raises Refused
    when the reviewer is its requester."""
    reviewer = _account(reviewer)
    if reviewer is None:
        raise Refused(_("Sign in to approve."))
    requester_id = getattr(row, "requested_by_id", None)
    if requester_id is not None and requester_id == reviewer.pk:
        raise Refused(_("You asked for this yourself: another approver must approve it."))
    manager = type(row)._default_manager
    done = (
        manager.filter(pk=row.pk, status=Review.PENDING)
        .exclude(requested_by_id=reviewer.pk)
        .update(status=Review.APPROVED, approved_by=reviewer, approved_at=now)
    )
    return bool(done)


def reject(row: Model, reviewer: Any, now: datetime) -> bool:
    """Reject a pending request once (its requester may withdraw it this way)."""
    manager = type(row)._default_manager
    done = manager.filter(pk=row.pk, status=Review.PENDING).update(
        status=Review.REJECTED, rejected_by=_account(reviewer), rejected_at=now
    )
    return bool(done)
