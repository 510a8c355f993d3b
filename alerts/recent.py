"""The alerts page's "Recent messages": each of a user's last mails as a person reads it —
what kind of change, on which host, about which rule — in a constant number of queries.

A message about a host that has since left the user's teams keeps its date and status but
not the host's name or the rule: the page shows only what the account may see now, as the
sweep withholds what it may no longer receive (alerts.services)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from access.scope import Scope as AccessScope
from alerts.models import Event, Notification, Regression

Kind = Regression.Kind
HOST = "event__regression__host__"


@dataclass(frozen=True)
class Message:
    notification: Notification
    kind: str  # regression, recovery, unreachable, digest: in words
    host: str = ""  # empty: none (a digest) or outside the account's teams
    host_url: str = ""
    about: str = ""  # the rule and subject, the score, the vulnerability…
    hidden: bool = False  # about a host the account may no longer see
    hosts: list[str] = field(default_factory=list)  # a digest's hosts the account sees

    @property
    def when(self) -> datetime:
        return self.notification.created_at


def about_event(event: Event) -> str:
    regression = event.regression
    details = regression.details or {}
    if regression.kind == Kind.SCORE_DROP:
        return _("score %(before)s → %(after)s") % {
            "before": details.get("before", "?"),
            "after": details.get("after", "?"),
        }
    if regression.kind == Kind.UNREACHABLE:
        if event.phase == Event.Phase.RECOVERED:
            return _("scanning again")
        n = int(details.get("failures") or 0)
        return ngettext("%(n)s failed scan", "%(n)s failed scans in a row", n) % {"n": n}
    if regression.kind == Kind.VULNERABILITY:
        return _("%(vuln)s in %(package)s") % {
            "vuln": details.get("vuln", "?"),
            "package": details.get("package", "?"),
        }
    finding = regression.finding
    rule = finding.rule_id if finding else details.get("rule_id", "")
    subject = finding.subject_name if finding else details.get("subject_name", "")
    return _("%(rule)s on %(subject)s") % {"rule": rule, "subject": subject} if subject else rule


def _kind(n: Notification) -> str:
    if n.kind == Notification.DIGEST_KIND:
        return _("Digest")
    if n.kind == "recovery":
        return _("Recovery")
    if n.kind == "unreachable":
        return _("Unreachable")
    return _("Regression")


def _one(n: Notification, scope: AccessScope) -> Message:
    event = n.event
    if event is None:
        return Message(n, _kind(n))
    host = event.regression.host
    if not scope.allows_labels(host.labels):
        return Message(n, _kind(n), hidden=True)
    url = reverse("host-detail", args=[host.name])
    return Message(n, _kind(n), host=host.name, host_url=url, about=about_event(event))


def recent_messages(user_id: int, scope: AccessScope, limit: int = 10) -> list[Message]:
    """The user's last `limit` messages, newest first; a digest lists the hosts it spoke of."""
    rows = list(
        Notification.objects.filter(user_id=user_id).select_related(
            "event__regression__host", "event__regression__finding", "subscription"
        )[:limit]
    )
    digests = [n.pk for n in rows if n.kind == Notification.DIGEST_KIND]
    hosts: dict[int, list[str]] = defaultdict(list)
    changes: dict[int, int] = defaultdict(int)
    if digests:
        folded = (
            Notification.objects.filter(digest_id__in=digests, event__isnull=False)
            .order_by("created_at", "id")
            .values_list(
                "digest_id", "event__regression__host__name", "event__regression__host__labels"
            )
        )
        for digest_id, name, labels in folded:
            changes[digest_id] += 1
            if scope.allows_labels(labels) and name not in hosts[digest_id]:
                hosts[digest_id].append(name)
    messages = []
    for n in rows:
        message = _one(n, scope)
        if n.pk in changes:
            count = changes[n.pk]
            about = ngettext("%(n)s change", "%(n)s changes", count) % {"n": count}
            message = Message(n, message.kind, about=about, hosts=hosts[n.pk])
        messages.append(message)
    return messages
