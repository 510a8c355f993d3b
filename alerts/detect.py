"""Compare a finished scan with what came before; open and close regressions as rows.

Reads only what scans already stored: findings opened or resolved by this scan, the previous
successful scan's score, and the host's failure counter. Returns the new events; telling
anyone about them is alerts.services' job.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.models import Event, Regression
from posture.rules import Severity
from scans.models import Finding, HostPosture, ScanRun

# Findings of these rules mean a container can take over its host (OWASP rules 1 and 3):
# they get their own, louder mail rather than the generic "new failing rule".
DANGEROUS_RULES = frozenset({"CTR-PRIVILEGED", "CTR-DOCKER-SOCKET"})
Kind = Regression.Kind


def detect(scan: ScanRun) -> list[Event]:
    with transaction.atomic():
        if scan.status == ScanRun.Status.SUCCEEDED:
            return _findings(scan) + _score(scan) + _close(scan, Kind.UNREACHABLE, "health")
        return _health(scan)


def _open(scan: ScanRun, kind: str, key: str, severity: int, **fields: object) -> list[Event]:
    try:
        with transaction.atomic():
            regression = Regression.objects.create(
                host_id=scan.host_id,
                kind=kind,
                key=key,
                severity=severity,
                opened_at=scan.finished_at or timezone.now(),
                opened_scan=scan,
                **fields,
            )
    except IntegrityError:  # already open: this scan was seen before
        return []
    return [Event.objects.create(regression=regression, phase=Event.Phase.OPENED)]


def _close(scan: ScanRun, kind: str, key: str) -> list[Event]:
    events = []
    for regression in Regression.objects.open().filter(host_id=scan.host_id, kind=kind, key=key):
        # Compare-and-set, so a receiver run twice closes (and announces) it once.
        closed = Regression.objects.filter(pk=regression.pk, closed_at__isnull=True).update(
            closed_at=scan.finished_at or timezone.now(), closed_scan=scan
        )
        if closed:
            events.append(Event.objects.create(regression=regression, phase=Event.Phase.RECOVERED))
    return events


def _findings(scan: ScanRun) -> list[Event]:
    events: list[Event] = []
    if _first_picture(scan):
        # Nothing regressed: this is the baseline. A fleet being onboarded would otherwise
        # mail every existing finding of every new host.
        return events
    # A failure opened already accepted by a risk exception is a decision, not a regression.
    opened = Finding.objects.filter(opened_scan=scan, severity__gte=Severity.HIGH, accepted=False)
    for finding in opened.order_by("id"):
        kind = Kind.DANGEROUS if finding.rule_id in DANGEROUS_RULES else Kind.FINDING
        events += _open(scan, kind, f"finding:{finding.pk}", finding.severity, finding=finding)
    for finding in Finding.objects.filter(resolved_scan=scan).order_by("id"):
        for kind in (Kind.FINDING, Kind.DANGEROUS):
            events += _close(scan, kind, f"finding:{finding.pk}")
    return events


def _first_picture(scan: ScanRun) -> bool:
    earlier = ScanRun.objects.filter(
        host_id=scan.host_id, status=ScanRun.Status.SUCCEEDED, finished_at__lt=scan.finished_at
    )
    return not earlier.exclude(pk=scan.pk).exists()


def _score(scan: ScanRun) -> list[Event]:
    if scan.score is None:
        return []
    drop = int(settings.POSTURE_ALERTS["SCORE_DROP"])
    current = Regression.objects.open().filter(host_id=scan.host_id, kind=Kind.SCORE_DROP).first()
    if current is not None:
        # Back once the drop from the score before it is under the threshold again.
        if scan.score > int(current.details.get("before", 0)) - drop:
            return _close(scan, Kind.SCORE_DROP, "score")
        return []
    previous = (
        ScanRun.objects.filter(host_id=scan.host_id, status=ScanRun.Status.SUCCEEDED)
        .exclude(pk=scan.pk)
        .filter(score__isnull=False, requested_at__lte=scan.requested_at)
        .order_by("-requested_at", "-id")
        .first()
    )
    if previous is None or previous.score is None or previous.score - scan.score < drop:
        return []
    details = {"before": previous.score, "after": scan.score, "grade": scan.grade}
    return _open(scan, Kind.SCORE_DROP, "score", Severity.HIGH, details=details)


def _health(scan: ScanRun) -> list[Event]:
    posture = HostPosture.objects.filter(host_id=scan.host_id).first()
    threshold = int(settings.POSTURE_ALERTS["FAILURES"])
    if posture is None or posture.consecutive_failures < threshold:
        return []
    details = {
        "failures": posture.consecutive_failures,
        "error_class": posture.last_error_class,
        "error_detail": scan.error_detail[:300],
    }
    return _open(scan, Kind.UNREACHABLE, "health", Severity.HIGH, details=details)
