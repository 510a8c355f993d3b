"""Risk exceptions as plain functions: apply them to a scan, request, approve, reject,
revoke, handle expiry.

When they take effect: an exception is applied at scan time, like a rule profile, so the
score and findings only ever change through a scan; only an approved one applies (four eyes:
policy.approval). To make an approval, a revocation or an expiry visible without waiting for
the host's next slot, each queues a scan of the hosts it affects (trigger "exception");
expiries are found by the beat task `expire_exceptions`. Each step is in the audit trail.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import record
from findings.models import Finding
from hosts.models import Host
from policy import approval, matching
from policy.models import RiskException
from policy.signals import request_rescan
from rules import Evaluation, Outcome
from rules.base import Scope
from rules.facts import HostFacts

log = logging.getLogger(__name__)


def in_force(host: Host, now: datetime) -> list[RiskException]:
    """The host's exceptions in force at `now`, latest expiry first: when two cover the same
    failure, it stays accepted until the last of them ends."""
    candidates = RiskException.objects.active(now).filter(Q(host__isnull=True) | Q(host=host))
    return [
        exc
        for exc in candidates.order_by("-expires_at", "id")
        if matching.label_matches(host.labels, exc.label_key, exc.label_value)
    ]


def image_refs(facts: HostFacts | None) -> dict[str, tuple[str, ...]]:
    """Subject key -> the image references an image pattern is matched on: the reference a
    container was created from (Config.Image), an image's tags."""
    if facts is None:
        return {}
    refs: dict[str, tuple[str, ...]] = {}
    for container in facts.containers:
        config = container.inspect.get("Config")
        ref = config.get("Image") if isinstance(config, dict) else None
        refs[container.id] = (ref,) if isinstance(ref, str) and ref else ()
    for image in facts.images:
        tags = image.inspect.get("RepoTags")
        tags = tags if isinstance(tags, list) else []
        refs[image.id] = tuple(t for t in tags if isinstance(t, str))
    return refs


def apply(
    evaluations: list[Evaluation], host: Host, now: datetime, facts: HostFacts | None = None
) -> list[Evaluation]:
    """Mark the failures an exception in force covers as accepted (Evaluation.accepted_by).

    Fail-closed: only a FAIL is ever marked, and it stays a FAIL; pass, unknown, not
    applicable and manual verdicts are returned as they are. Without `facts` no container
    has an image reference, so image patterns match image subjects by name only.
    """
    exceptions = in_force(host, now)
    if not exceptions:
        return evaluations
    by_rule: dict[str, list[RiskException]] = {}
    for exc in exceptions:
        by_rule.setdefault(exc.rule_id, []).append(exc)
    refs = image_refs(facts)
    out = []
    for ev in evaluations:
        candidates = by_rule.get(ev.rule.id)
        if candidates is None or ev.outcome is not Outcome.FAIL:
            out.append(ev)
            continue
        subject_refs = refs.get(ev.subject_key)
        if subject_refs is None:
            subject_refs = (ev.subject_name,) if ev.subject_kind is Scope.IMAGE else ()
        chosen = next(
            (x for x in candidates if x.covers(ev.subject_kind, ev.subject_name, subject_refs)),
            None,
        )
        out.append(replace(ev, accepted_by=chosen.pk) if chosen is not None else ev)
    return out


def candidate_hosts(exc: RiskException) -> list[Host]:
    """Hosts a new exception may change: in its scope, with an open finding of its rule on a
    subject it may cover. Image patterns are checked by the scan itself (a finding does not
    keep its container's image reference), so they over-approximate here."""
    findings = Finding.objects.open().filter(rule_id=exc.rule_id)
    if exc.host_id is not None:
        findings = findings.filter(host_id=exc.host_id)
    if exc.container_pattern:
        findings = findings.filter(subject_kind=Scope.CONTAINER.value)
    if exc.image_pattern:
        findings = findings.exclude(subject_kind=Scope.DAEMON.value)
    host_ids = {
        host_id
        for host_id, name in findings.values_list("host_id", "subject_name")
        if not exc.container_pattern
        or matching.subject_matches(
            kind=Scope.CONTAINER,
            name=name,
            image_refs=(),
            container_pattern=exc.container_pattern,
            image_pattern="",
        )
    }
    return [
        host
        for host in Host.objects.filter(pk__in=host_ids).order_by("name")
        if matching.label_matches(host.labels, exc.label_key, exc.label_value)
    ]


def covered_hosts(exc: RiskException) -> list[Host]:
    """Hosts where the exception keeps findings out of the score: those a revocation or an
    expiry changes. (A scan still to come reads the exception's new state itself.)"""
    accepted = Finding.objects.open().filter(exception=exc, accepted=True)
    return list(Host.objects.filter(pk__in=accepted.values("host_id")).order_by("name"))


def rescan(hosts: Iterable[Host]) -> int:
    """Queue a scan of each enabled host the decision changes (scans does the queueing)."""
    return request_rescan(hosts, sender=RiskException)


def _details(exc: RiskException) -> dict[str, Any]:
    return {
        "rule": exc.rule_id,
        "scope": exc.scope_label,
        "reason": exc.reason,
        "owner": exc.owner,
        "expires_at": exc.expires_at,
        "status": exc.status,
    }


def create(
    *,
    rule_id: str,
    reason: str,
    owner: str,
    expires_at: datetime,
    requested_by: Any = None,
    can_approve: bool = False,
    request: Any = None,
    host: Host | None = None,
    label_key: str = "",
    label_value: str = "",
    container_pattern: str = "",
    image_pattern: str = "",
) -> RiskException:
    """Record a request; approved at once only when policy.approval says so (`can_approve`:
    the requester holds EXCEPTION_APPROVE), and then its hosts are rescanned."""
    now = timezone.now()
    review = approval.first_review(requested_by, can_approve, now)
    exc = RiskException(
        rule_id=rule_id,
        host=host,
        label_key=label_key,
        label_value=label_value,
        container_pattern=container_pattern,
        image_pattern=image_pattern,
        reason=reason,
        owner=owner,
        expires_at=expires_at,
        created_by=requested_by.get_username()[:150] if review["requested_by"] else "",
        created_at=now,
        **review,
    )
    exc.full_clean()
    with transaction.atomic():
        exc.save()
        record("exception.requested", request=request, target=exc, details=_details(exc))
        if exc.is_approved:
            record("exception.approved", request=request, target=exc, details=_details(exc))
            rescan(candidate_hosts(exc))
    return exc


def approve(exc: RiskException, reviewer: Any, request: Any = None) -> bool:
    """Approve a pending exception (never its requester's own: approval.Refused); its hosts
    are rescanned as a new exception's are. False when it was no longer pending or is past
    its expiry (nothing left to approve)."""
    now = timezone.now()
    if exc.expires_at <= now:
        return False
    with transaction.atomic():
        done = approval.approve(exc, reviewer, now)
        if done:
            exc.refresh_from_db()
            record("exception.approved", request=request, target=exc, details=_details(exc))
            rescan(candidate_hosts(exc))
    return done


def reject(exc: RiskException, reviewer: Any, request: Any = None) -> bool:
    with transaction.atomic():
        done = approval.reject(exc, reviewer, timezone.now())
        if done:
            exc.refresh_from_db()
            record("exception.rejected", request=request, target=exc, details=_details(exc))
    return done


def revoke(
    exc: RiskException, revoked_by: str, now: datetime | None = None, request: Any = None
) -> bool:
    """Revoke once (compare-and-set); the failures it accepted count again after the rescan."""
    now = now or timezone.now()
    with transaction.atomic():
        done = RiskException.objects.filter(pk=exc.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=revoked_by[:150]
        )
        if done:
            record("exception.revoked", request=request, target=exc, details=_details(exc))
            rescan(covered_hosts(exc))
    return bool(done)


def queue_expired(now: datetime | None = None) -> int:
    """Queue scans of the hosts of every exception that expired since the last run.

    "Since the last run" is a row, not a clock: each expired exception is claimed once by
    setting expiry_handled_at, so a missed beat catches up and two beats do not double up.
    """
    now = now or timezone.now()
    queued = 0
    due = RiskException.objects.expired(now).filter(expiry_handled_at__isnull=True)
    for exc in due.select_related("host"):
        with transaction.atomic():
            claimed = RiskException.objects.filter(
                pk=exc.pk, expiry_handled_at__isnull=True
            ).update(expiry_handled_at=now)
            if claimed:
                record("exception.expired", source="beat", target=exc, details=_details(exc))
                queued += rescan(covered_hosts(exc))
    if queued:
        log.info("queued %d scans after exceptions expired", queued)
    return queued
