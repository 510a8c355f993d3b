"""Prometheus metrics at /metrics, computed from the database at scrape time.

Not in-process counters: the web answers from several gunicorn processes and the scans
happen in workers, so the database is the one place that sees the whole picture. Windows
("last 15 minutes") stand in for counters because scan runs are pruned. prometheus_client
writes the exposition (escaping, number formats, content negotiation); this module only
says what the figures are, as a custom collector read once per scrape.

Access: a bearer token (POSTURE_METRICS_TOKEN, or _FILE), a client address in
POSTURE_METRICS_ALLOW (CIDRs, e.g. the Prometheus host), or a signed-in account whose role
grants Perm.METRICS (the figures are the whole fleet's, so a team's account is refused:
403). REMOTE_ADDR only: X-Forwarded-For is whatever the client says.

The series names and labels are a contract: deploy/grafana/posture.json and
deploy/prometheus/posture-rules.yml read them (tests/system/ops/test_monitoring.py checks
both against a scrape).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, Max, Min, OuterRef, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry

from access.policy import custom
from access.roles import Perm
from access.services import request_access
from findings.models import Finding
from hosts.models import Host
from rules import Severity
from scans.models import ScanRun
from scans.status import host_status, posture_of
from scans.transports.errors import ErrorClass
from vulns.models import VulnOccurrence

WINDOW = timedelta(minutes=15)
QUANTILES = (0.5, 0.9, 0.99)
HOST_STATES = ("ok", "stale", "error", "never", "scanning", "paused")
SEVERITIES = sorted(Severity, reverse=True)


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


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass
class HostFigures:
    """What one pass over the hosts yields: their states and the fleet's mean score."""

    states: Counter[str] = field(default_factory=Counter)
    scores: list[int] = field(default_factory=list)

    @property
    def fleet_score(self) -> float:
        # NaN, not 0, for a fleet with no scored host: a zero would fire the score alerts.
        return sum(self.scores) / len(self.scores) if self.scores else float("nan")


def host_figures(now: datetime) -> HostFigures:
    active = Exists(ScanRun.objects.active().filter(host=OuterRef("pk")))
    hosts = Host.objects.select_related("posture").only(
        "scan_interval",
        "enabled",
        "posture__score",
        "posture__last_success_at",
        "posture__last_attempt_at",
        "posture__last_error_class",
        "posture__consecutive_failures",
    )
    figures = HostFigures()
    for host in hosts.annotate(scan_active=active):
        if not host.enabled:
            figures.states["paused"] += 1
            continue
        posture = posture_of(host)
        figures.states[host_status(host, posture, host.scan_active, now).state] += 1
        if posture is not None and posture.score is not None:
            figures.scores.append(posture.score)
    return figures


def _durations(since: timedelta) -> list[float]:
    rows = ScanRun.objects.filter(
        status=ScanRun.Status.SUCCEEDED,
        finished_at__gte=timezone.now() - since,
        duration_ms__isnull=False,
    ).values_list("duration_ms", flat=True)
    return sorted(ms / 1000 for ms in rows if ms is not None)


def _gauge(name: str, help_text: str, value: float | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def _hosts(now: datetime) -> Iterator[Metric]:
    figures = host_figures(now)
    hosts = GaugeMetricFamily("posture_hosts", "Hosts by health state.", labels=["state"])
    for state in HOST_STATES:
        hosts.add_metric([state], figures.states.get(state, 0))
    yield hosts
    yield _gauge(
        "posture_fleet_score",
        "Mean score of the enabled hosts that have one (0-100).",
        figures.fleet_score,
    )
    yield _gauge("posture_hosts_scored", "Enabled hosts with a score.", len(figures.scores))

    failing = Host.objects.filter(enabled=True, posture__isnull=False).exclude(
        posture__last_error_class=""
    )
    by_class = dict(
        failing.values_list("posture__last_error_class")
        .annotate(n=Count("pk"))
        .values_list("posture__last_error_class", "n")
    )
    family = GaugeMetricFamily(
        "posture_hosts_failing",
        "Hosts whose last scan failed, by error class.",
        labels=["error_class"],
    )
    for error in ErrorClass:
        family.add_metric([error.value], by_class.get(error.value, 0))
    yield family


def _scans(now: datetime) -> Iterator[Metric]:
    recent = GaugeMetricFamily(
        "posture_scans_finished_15m",
        "Scans finished in the last 15 minutes, by status and error class.",
        labels=["status", "error_class"],
    )
    for status, error, n in (
        ScanRun.objects.filter(finished_at__gte=now - WINDOW)
        .values_list("status", "error_class")
        .annotate(n=Count("pk"))
    ):
        recent.add_metric([status, error], n)
    yield recent

    # A summary with quantiles is not what prometheus_client's SummaryMetricFamily writes
    # (count and sum only), so its samples are added one by one under the same family.
    durations = _durations(WINDOW)
    summary = Metric(
        "posture_scan_duration_seconds", "Successful scans, last 15 minutes.", "summary"
    )
    for q in QUANTILES:
        summary.add_sample(
            "posture_scan_duration_seconds", {"quantile": str(q)}, _quantile(durations, q)
        )
    summary.add_sample("posture_scan_duration_seconds_sum", {}, sum(durations))
    summary.add_sample("posture_scan_duration_seconds_count", {}, len(durations))
    yield summary

    # Active scans only: the partial index of one_active_scan_per_host holds them, where
    # the whole table is 30 days of history.
    queue = ScanRun.objects.active().aggregate(
        queued=Count("pk", filter=Q(status=ScanRun.Status.QUEUED)),
        running=Count("pk", filter=Q(status=ScanRun.Status.RUNNING)),
        overdue=Count("pk", filter=Q(status=ScanRun.Status.RUNNING, lease_until__lt=now)),
        # Waiting for a first worker; a retry waiting out its backoff is not lag.
        oldest=Min("requested_at", filter=Q(status=ScanRun.Status.QUEUED, attempts=0)),
    )
    # The last time any worker finished anything: the worker-absent alert's clock (one
    # step down scanrun_finished_idx).
    queue["last"] = ScanRun.objects.aggregate(last=Max("finished_at"))["last"]
    yield _gauge(
        "posture_scans_queued", "Scans waiting for a worker (or a retry).", queue["queued"]
    )
    yield _gauge("posture_scans_running", "Scans running now.", queue["running"])
    yield _gauge(
        "posture_scans_lease_expired",
        "Running scans past their lease: a worker died and the sweep has not seen it yet.",
        queue["overdue"],
    )
    lag = (now - queue["oldest"]).total_seconds() if queue["oldest"] else 0.0
    yield _gauge(
        "posture_queue_lag_seconds", "Age of the oldest scan not yet started.", max(lag, 0.0)
    )
    yield _gauge(
        "posture_last_scan_finished_timestamp_seconds",
        "When a worker last finished a scan (Unix time; 0 if none is on record).",
        queue["last"].timestamp() if queue["last"] else 0.0,
    )


def _findings() -> Iterator[Metric]:
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
        family = GaugeMetricFamily(name, help_text, labels=["severity"])
        for severity in SEVERITIES:
            family.add_metric([severity.name.lower()], by_state.get((accepted, int(severity)), 0))
        yield family
    yield _gauge(
        "posture_vulnerabilities_open_kev",
        "Open vulnerabilities on hosts that CISA lists as known exploited (KEV), one per "
        "host and package.",
        VulnOccurrence.objects.filter(fixed_at__isnull=True, kev=True).count(),
    )


class PostureCollector(Collector):
    """The fleet's figures, read from the database each time Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield from _hosts(now)
        yield from _scans(now)
        yield from _findings()


def registry() -> CollectorRegistry:
    # A registry per scrape, not the process-wide default: the default one also carries
    # the Python process's own collectors, which would describe one gunicorn worker of
    # several and mean nothing for the fleet. auto_describe=False: registering must not
    # run the queries.
    reg = CollectorRegistry(auto_describe=False)
    reg.register(PostureCollector())
    return reg


def render(accept: str = "") -> tuple[bytes, str]:
    """The exposition for an Accept header (the classic text format unless OpenMetrics is
    asked for) and its content type."""
    encoder, content_type = choose_encoder(accept)
    return encoder(registry()), content_type


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
    body, content_type = render(request.headers.get("Accept", ""))
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
