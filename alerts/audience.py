"""Who hears about a host's event, and when: scopes, minimum severity, digests, quiet hours
and the per-user rate limit. Pure decisions over rows already loaded, so they are cheap to
test and to run for every event (and `hosts_matching`, the same decision over a fleet for
the form's preview); the users' access scopes are read in one query for all
of an event's subscribers (`scopes`), since what a subscription asks for never widens what
its user may see."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from access.scope import TEAM_LABEL
from access.scope import Scope as AccessScope
from access.services import access_for_users
from alerts.models import Notification, Subscription
from hosts.models import Host
from trends.scope import label_text

Reason = Notification.Reason


def matches(sub: Subscription, host: Host) -> bool:
    scope = sub.scope
    if scope == Subscription.Scope.ALL:
        return True
    if scope == Subscription.Scope.HOST:
        return sub.host_id is not None and sub.host_id == host.pk
    if scope == Subscription.Scope.OWNER:
        owner = (sub.owner_email or sub.user.email).strip().lower()
        return bool(owner) and host.owner_email.strip().lower() == owner
    labels = {str(k): str(v) for k, v in (host.labels or {}).items()}
    if any(labels.get(k) != v for k, v in sub.labels().items()):
        return False
    if scope == Subscription.Scope.LABEL:
        return bool(sub.labels())
    pattern = sub.name_pattern.strip()
    return fnmatch.fnmatchcase(host.name, pattern) if pattern else bool(sub.labels())


def hosts_matching(sub: Subscription, hosts: QuerySet[Host]) -> list[str]:
    """The names of `hosts` (already narrowed to an account's scope) that `sub` covers today,
    sorted: the form's "matches N hosts" preview. The same `matches` as the fan-out, so the
    preview cannot promise what the mails would not keep; only the columns it reads."""
    if sub.scope == Subscription.Scope.HOST:
        hosts = hosts.filter(pk=sub.host_id or 0)
    team = sub.labels().get(TEAM_LABEL)
    if team:
        # The one selective condition, in SQL: a team of a large fleet is a few hosts.
        hosts = hosts.alias(label_team=label_text(TEAM_LABEL)).filter(label_team=team)
    hosts = hosts.order_by("name")
    if sub.scope in (Subscription.Scope.ALL, Subscription.Scope.HOST) or (
        sub.scope == Subscription.Scope.LABEL and set(sub.labels()) == {TEAM_LABEL}
    ):
        return list(hosts.values_list("name", flat=True))  # decided in SQL: names only
    rows = hosts.only("pk", "name", "labels", "owner_email")
    return [h.name for h in rows if matches(sub, h)]


@dataclass(frozen=True)
class Preview:
    """What the form says of the hosts a subscription would cover: `names` is None while
    the input does not say which hosts yet (no host or team chosen)."""

    scope: str
    names: list[str] | None
    SHOWN = 5

    @property
    def ready(self) -> bool:
        return self.names is not None

    @property
    def count(self) -> int:
        return len(self.names or [])

    @property
    def shown(self) -> list[str]:
        return (self.names or [])[: self.SHOWN]

    @property
    def more(self) -> int:
        return max(self.count - self.SHOWN, 0)


def scopes(users: Iterable[AbstractBaseUser]) -> dict[int, AccessScope]:
    """Each user's access scope, in one query for all of them (access.services)."""
    return {pk: access.scope for pk, access in access_for_users(users).items()}


@dataclass(frozen=True)
class Plan:
    """How one user gets one event: now, or held until `release_at` for a digest."""

    reason: str  # Notification.Reason
    release_at: datetime | None = None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _next_local(now: datetime, zone: ZoneInfo, at: time) -> datetime:
    local = now.astimezone(zone)
    candidate = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate


def quiet_until(sub: Subscription, now: datetime) -> datetime | None:
    """The end of the quiet period `now` falls in, or None outside quiet hours."""
    start, end = sub.quiet_start, sub.quiet_end
    if start is None or end is None or start == end:
        return None
    zone = _zone(sub.time_zone)
    local = now.astimezone(zone).time()
    # A window such as 22:00-07:00 wraps past midnight.
    inside = start <= local < end if start < end else (local >= start or local < end)
    return _next_local(now, zone, end) if inside else None


def plan(subs: list[Subscription], now: datetime, sent_last_hour: int) -> Plan:
    """Of a user's matching subscriptions, the most immediate one decides."""
    if all(s.delivery == Subscription.Delivery.DIGEST for s in subs):
        hour = int(settings.POSTURE_ALERTS["DIGEST_HOUR"])
        return Plan(Reason.DIGEST, _next_local(now, _zone(subs[0].time_zone), time(min(hour, 23))))
    immediate = [s for s in subs if s.delivery == Subscription.Delivery.IMMEDIATE]
    quiet = [quiet_until(s, now) for s in immediate]
    if all(q is not None for q in quiet):
        return Plan(Reason.QUIET, min(q for q in quiet if q is not None))
    if sent_last_hour >= int(settings.POSTURE_ALERTS["RATE_LIMIT_PER_HOUR"]):
        # Over the limit, the rest of the hour's messages become one digest at its end.
        return Plan(Reason.RATE, now + timedelta(hours=1))
    return Plan(Reason.IMMEDIATE)
