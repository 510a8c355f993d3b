"""What the status cell says about a host: scanning, never scanned, in error, stale or ok,
decided from its posture row and whether a scan of it is active."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone

from findings.models import HostPosture
from findings.selection import stale_after_intervals
from hosts.models import Host
from rules.scoring import GRADE_LETTERS
from scans.transports.errors import ErrorClass


@dataclass(frozen=True)
class HostStatus:
    """What the status cell says about a host, decided from rows already loaded."""

    state: str  # scanning | never | error | stale | ok
    error: ErrorClass | None = None
    as_of: datetime | None = None  # time of the last good picture
    attempted_at: datetime | None = None
    failures: int = 0  # consecutive failed scans
    stale: bool = False  # the last good picture is older than N intervals (any state)

    @property
    def active(self) -> bool:
        return self.state == "scanning"


def grade_class(grade: str | None) -> str:
    return f"grade-{grade.lower()}" if grade and grade in GRADE_LETTERS else "grade-none"


def host_status(
    host: Host, posture: HostPosture | None, scan_active: bool, now: datetime | None = None
) -> HostStatus:
    as_of = posture.last_success_at if posture else None
    attempted = posture.last_attempt_at if posture else None
    failures = posture.consecutive_failures if posture else 0
    if posture is None or attempted is None:
        return HostStatus("scanning" if scan_active else "never")
    now = now or timezone.now()
    stale_after = timedelta(minutes=host.scan_interval * stale_after_intervals())
    stale = as_of is not None and now - as_of > stale_after
    if scan_active:
        state, error = "scanning", None
    elif posture.last_error_class:
        state, error = "error", ErrorClass(posture.last_error_class)
    else:
        state, error = ("stale" if stale else "ok"), None
    return HostStatus(state, error, as_of, attempted, failures, stale)


def posture_of(host: Host) -> HostPosture | None:
    # The reverse one-to-one raises when the row is missing (a host never scanned).
    return getattr(host, "posture", None)


def transport_of(host: Host) -> str:
    try:
        return host.transport
    except ValidationError:  # an endpoint stored before a stricter parser: show, don't crash
        return "?"
