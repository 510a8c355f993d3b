"""Compare a finished scan with what came before; open and close regressions as rows.

Reads only what scans already stored: findings opened or resolved by this scan, the previous
successful scan's score, and the host's failure counter. Returns the new events; telling
anyone about them is alerts.services' job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from alerts.models import Event, Regression
from alerts.vulnerabilities import detect_vulnerabilities
from findings.models import Finding, HostPosture
from rules import Severity
from scans.models import ScanRun

# Findings of these rules mean a container can take over its host (OWASP rules 1 and 3):
# they get their own, louder mail rather than the generic "new failing rule".
DANGEROUS_RULES = frozenset({"CTR-PRIVILEGED", "CTR-DOCKER-SOCKET"})
# Subjects a human knows by name, and that keep it when redeployed with a new id.
NAMED_SUBJECTS = frozenset({"container", "image"})
Kind = Regression.Kind
FINDING_KINDS = (Kind.FINDING, Kind.DANGEROUS)


def problem_key(rule_id: str, subject_kind: str, subject_name: str) -> str:
    """What a human would call "the same problem" on a host: the rule on the container or
    image of that name, or on the daemon. A redeploy gives a container a new id, so a new
    finding, but the same key: its regression stays open, with no mail either way.

    Hashed because a name comes from the daemon (any length, any character) and the key is
    64 characters; sha224's 56 hex digits fit after the prefix. alerts/migrations/0002
    computes the same key: change both or neither."""
    name = subject_name if subject_kind in NAMED_SUBJECTS else ""
    # NUL cannot occur in a rule id or a kind, so the split is unambiguous whatever the name.
    raw = "\0".join((rule_id, subject_kind, name)).encode("utf-8", "surrogatepass")
    return "subject:" + hashlib.sha224(raw).hexdigest()


def detect(scan: ScanRun) -> list[Event]:
    with transaction.atomic():
        if scan.status != ScanRun.Status.SUCCEEDED:
            return _health(scan)
        # Nothing regressed on a host's first picture: it is the baseline. A fleet being
        # onboarded would otherwise mail every existing finding and vulnerability.
        first = _first_picture(scan)
        regressed = [] if first else _findings(scan) + detect_vulnerabilities(scan)
        return regressed + _score(scan) + _close(scan, Kind.UNREACHABLE, "health")


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


def _key(finding: Finding) -> str:
    return problem_key(finding.rule_id, finding.subject_kind, finding.subject_name)


def _findings(scan: ScanRun) -> list[Event]:
    """Call only past the host's first picture. A fleet-wide redeploy resolves and reopens
    every finding; it must not mail: a finding opened under the key of an open regression
    takes it over, and a resolved finding closes its regression only when nothing under that
    key is still open. A constant number of statements per scan, however many findings it
    turned over."""
    fields = ("pk", "rule_id", "severity", "subject_kind", "subject_name", "accepted")
    opened = list(
        Finding.objects.filter(opened_scan=scan, severity__gte=Severity.HIGH)
        .only(*fields)
        .order_by("id")
    )
    resolved = list(Finding.objects.filter(resolved_scan=scan).only(*fields))
    if not opened and not resolved:
        return []
    # Locked: a receiver run twice for a scan waits here, then sees what the first one did.
    current = {
        (r.kind, r.key): r
        for r in Regression.objects.open()
        .filter(host_id=scan.host_id, kind__in=FINDING_KINDS)
        .select_for_update()
    }
    events = _take_over_or_open(scan, opened, current)
    return events + _recover(scan, resolved, current.values())


def _kind(rule_id: str) -> str:
    return Kind.DANGEROUS if rule_id in DANGEROUS_RULES else Kind.FINDING


def _take_over_or_open(
    scan: ScanRun, opened: list[Finding], current: dict[tuple[str, str], Regression]
) -> list[Event]:
    moved: dict[int, Regression] = {}
    new: dict[tuple[str, str], Regression] = {}
    for finding in opened:  # by id, so a duplicate name (a hostile daemon) takes the last
        kind, key = _kind(finding.rule_id), _key(finding)
        regression = current.get((kind, key))
        if regression is not None:
            # The same problem on a redeployed subject: no event, but the regression now
            # shows (and will recover with) the finding that is open.
            regression.finding, regression.severity = finding, finding.severity
            moved[regression.pk] = regression
        elif not finding.accepted:
            # A failure opened already accepted by a risk exception is a decision, not a
            # regression.
            new[(kind, key)] = Regression(
                host_id=scan.host_id,
                kind=kind,
                key=key,
                severity=finding.severity,
                finding=finding,
                opened_at=scan.finished_at or timezone.now(),
                opened_scan=scan,
                details=_names(finding),
            )
    if moved:
        Regression.objects.bulk_update(moved.values(), ["finding", "severity"])
    if not new:
        return []
    try:
        with transaction.atomic():
            created = Regression.objects.bulk_create(new.values())
    except IntegrityError:
        # A concurrent run for this scan opened some of these first: one at a time, then,
        # and _open skips those already open.
        events: list[Event] = []
        for r in new.values():
            events += _open(scan, r.kind, r.key, r.severity, finding=r.finding, details=r.details)
        return events
    return Event.objects.bulk_create(Event(regression=r, phase=Event.Phase.OPENED) for r in created)


def _names(finding: Finding) -> dict[str, str]:
    # The key is a hash: this is what it stands for, for the admin and anyone debugging.
    return {
        "rule_id": finding.rule_id,
        "subject_kind": finding.subject_kind,
        "subject_name": finding.subject_name,
    }


def _recover(scan: ScanRun, resolved: list[Finding], current: Iterable[Regression]) -> list[Event]:
    keys = {_key(f) for f in resolved}
    ids = {f.pk for f in resolved}
    # By key, and by the linked finding: a regression keyed before a `docker rename` (or
    # before keys were by name) still closes when its own finding does.
    candidates = [r for r in current if r.key in keys or r.finding_id in ids]
    if not candidates:
        return []
    still = (
        Finding.objects.open()
        .filter(host_id=scan.host_id)
        .filter(
            Q(rule_id__in={f.rule_id for f in resolved})
            | Q(pk__in={r.finding_id for r in candidates if r.finding_id})
        )
        .only("pk", "rule_id", "subject_kind", "subject_name")
    )
    open_keys, open_ids = set(), set()
    for finding in still:
        open_keys.add(_key(finding))
        open_ids.add(finding.pk)
    closing = [r for r in candidates if r.key not in open_keys and r.finding_id not in open_ids]
    if not closing:
        return []
    # The rows are locked (_findings), so exactly these are closed, and announced, here.
    Regression.objects.filter(pk__in=[r.pk for r in closing]).update(
        closed_at=scan.finished_at or timezone.now(), closed_scan=scan
    )
    return Event.objects.bulk_create(
        Event(regression=r, phase=Event.Phase.RECOVERED) for r in closing
    )


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
