"""Prometheus metrics at /metrics, computed from the database at scrape time.

Not in-process counters: the web answers from several gunicorn processes and the scans
happen in workers, so the database is the one place that sees the whole picture. Windows
("last 15 minutes") stand in for counters because scan runs are pruned.

Access: a bearer token (POSTURE_METRICS_TOKEN, or _FILE), a client address in
POSTURE_METRICS_ALLOW (CIDRs, e.g. the Prometheus host), or a signed-in account whose role
grants Perm.METRICS (the figures are the whole fleet's, so a team's account is refused:
403). REMOTE_ADDR only: X-Forwarded-For is whatever the client says.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, Min, OuterRef, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from access.policy import custom
from access.roles import Perm
from access.services import request_access
from findings.models import Finding
from hosts.models import Host
from rules import Severity
from scans.models import ScanRun
from scans.status import host_status, posture_of
from scans.transports.errors import ErrorClass

WINDOW = timedelta(minutes=15)
QUANTILES = (0.5, 0.9, 0.99)
HOST_STATES = ("ok", "stale", "error", "never", "scanning", "paused")


def machine_allowed(request: HttpRequest) -> bool:
    """A scraper: the bearer token or an allow-listed peer address."""
    token = settings.POSTURE_METRICS["TOKEN"]
    header = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
        return True
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(client in network for network in settings.POSTURE_METRICS["ALLOW"])


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    escaped = (
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels.items()
    )
    return "{" + ",".join(escaped) + "}"


class Exposition:
    """The Prometheus text format, version 0.0.4."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, **labels: str) -> None:
        self.lines.append(f"{name}{_labels(**labels)} {value:g}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def host_states() -> Counter[str]:
    active = Exists(ScanRun.objects.active().filter(host=OuterRef("pk")))
    hosts = Host.objects.select_related("posture").only(
        "scan_interval",
        "enabled",
        "posture__last_success_at",
        "posture__last_attempt_at",
        "posture__last_error_class",
        "posture__consecutive_failures",
    )
    now = timezone.now()
    states: Counter[str] = Counter()
    for host in hosts.annotate(scan_active=active):
        if not host.enabled:
            states["paused"] += 1
        else:
            states[host_status(host, posture_of(host), host.scan_active, now).state] += 1
    return states


def _durations(since: timedelta) -> list[float]:
    rows = ScanRun.objects.filter(
        status=ScanRun.Status.SUCCEEDED,
        finished_at__gte=timezone.now() - since,
        duration_ms__isnull=False,
    ).values_list("duration_ms", flat=True)
    return sorted(ms / 1000 for ms in rows if ms is not None)


def render() -> str:
    out = Exposition()
    now = timezone.now()

    states = host_states()
    out.family("posture_hosts", "gauge", "Hosts by health state.")
    for state in HOST_STATES:
        out.sample("posture_hosts", states.get(state, 0), state=state)

    failing = Host.objects.filter(enabled=True).exclude(posture__last_error_class="")
    by_class = dict(
        failing.filter(posture__isnull=False)
        .values_list("posture__last_error_class")
        .annotate(n=Count("pk"))
        .values_list("posture__last_error_class", "n")
    )
    out.family("posture_hosts_failing", "gauge", "Hosts whose last scan failed, by error class.")
    for error in ErrorClass:
        out.sample("posture_hosts_failing", by_class.get(error.value, 0), error_class=error.value)

    recent = (
        ScanRun.objects.filter(finished_at__gte=now - WINDOW)
        .values_list("status", "error_class")
        .annotate(n=Count("pk"))
    )
    out.family(
        "posture_scans_finished_15m",
        "gauge",
        "Scans finished in the last 15 minutes, by status and error class.",
    )
    for status, error, n in recent:
        out.sample("posture_scans_finished_15m", n, status=status, error_class=error)

    durations = _durations(WINDOW)
    out.family("posture_scan_duration_seconds", "summary", "Successful scans, last 15 minutes.")
    for q in QUANTILES:
        out.sample("posture_scan_duration_seconds", _quantile(durations, q), quantile=str(q))
    out.sample("posture_scan_duration_seconds_sum", sum(durations))
    out.sample("posture_scan_duration_seconds_count", len(durations))

    queue = ScanRun.objects.aggregate(
        queued=Count("pk", filter=Q(status=ScanRun.Status.QUEUED)),
        running=Count("pk", filter=Q(status=ScanRun.Status.RUNNING)),
        overdue=Count("pk", filter=Q(status=ScanRun.Status.RUNNING, lease_until__lt=now)),
        # Waiting for a first worker; a retry waiting out its backoff is not lag.
        oldest=Min("requested_at", filter=Q(status=ScanRun.Status.QUEUED, attempts=0)),
    )
    out.family("posture_scans_queued", "gauge", "Scans waiting for a worker (or a retry).")
    out.sample("posture_scans_queued", queue["queued"])
    out.family("posture_scans_running", "gauge", "Scans running now.")
    out.sample("posture_scans_running", queue["running"])
    out.family(
        "posture_scans_lease_expired",
        "gauge",
        "Running scans past their lease: a worker died and the sweep has not seen it yet.",
    )
    out.sample("posture_scans_lease_expired", queue["overdue"])
    lag = (now - queue["oldest"]).total_seconds() if queue["oldest"] else 0.0
    out.family("posture_queue_lag_seconds", "gauge", "Age of the oldest scan not yet started.")
    out.sample("posture_queue_lag_seconds", max(lag, 0.0))

    # Findings accepted by a risk exception left the score: counting them as open would
    # make an alert on this gauge fire for decisions already taken. They get their own.
    by_state: dict[tuple[bool, int], int] = {
        (accepted, severity): n
        for accepted, severity, n in Finding.objects.open()
        .values_list("accepted", "severity")
        .annotate(n=Count("pk"))
        .values_list("accepted", "severity", "n")
    }
    for name, accepted, help_text in (
        ("posture_findings_open", False, "Open findings across the fleet, by severity."),
        (
            "posture_findings_accepted",
            True,
            "Open findings accepted by a risk exception (out of the score), by severity.",
        ),
    ):
        out.family(name, "gauge", help_text)
        for severity in _severities():
            out.sample(
                name, by_state.get((accepted, int(severity)), 0), severity=severity.name.lower()
            )
    return out.text()


def _severities() -> Iterable[Severity]:
    return sorted(Severity, reverse=True)


def account_allowed(request: HttpRequest) -> bool:
    """A person: the role grants metrics, over the whole fleet (the gauges are not split by
    team, so a team-scoped account would read other teams' figures in them)."""
    access = request_access(request)
    return access.can(Perm.METRICS) and access.scope.all_hosts


@custom("a bearer token, an allow-listed peer address, or a role with metrics.view")
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if machine_allowed(request):
        pass
    elif request.user.is_authenticated:
        if not account_allowed(request):
            raise PermissionDenied
    else:
        response = HttpResponse("authentication required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="posture-metrics"'
        return response
    response = HttpResponse(render(), content_type="text/plain; version=0.0.4; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response
