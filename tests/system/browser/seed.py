"""A small, realistic fleet for the journeys and the README screenshots.

Eleven hosts in four teams and three environments, each with 90 days of daily score
samples (rolled up into trends.DailyScore the way beat's hourly rollup does it), a current
posture whose grade follows its score, and findings opened and resolved over the period,
so the charts have a shape, the report has a previous month to compare with and MTTR has
something to measure. Deterministic: the same fleet on every run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from findings.models import Finding, HostPosture, ScoreSample
from findings.tallies import rebuild_contributions
from hosts.models import Host
from rules import REGISTRY
from rules.scoring import grade_for
from scans.models import ScanRun
from trends.rollup import rollup_scores
from trends.scope import day_start

DAYS = 90


@dataclass(frozen=True)
class SeedHost:
    name: str
    env: str
    team: str
    start: int  # score 90 days ago
    end: int  # score today
    containers: int


FLEET = (
    SeedHost("pay-api-1", "prod", "payments", 61, 91, 14),
    SeedHost("pay-api-2", "prod", "payments", 58, 86, 14),
    SeedHost("pay-worker-1", "prod", "payments", 52, 74, 9),
    SeedHost("pay-staging", "staging", "payments", 47, 66, 11),
    SeedHost("web-front-1", "prod", "web", 72, 94, 6),
    SeedHost("web-front-2", "prod", "web", 70, 88, 6),
    SeedHost("web-staging", "staging", "web", 55, 62, 8),
    SeedHost("data-etl-1", "prod", "data", 44, 71, 12),
    SeedHost("data-lake", "prod", "data", 41, 48, 21),
    SeedHost("ci-runner-1", "dev", "platform", 33, 52, 4),
    SeedHost("ci-runner-2", "dev", "platform", 38, 57, 4),
)

# Rule -> (container it is typically found on, the evidence the collector would record).
PROBLEMS: dict[str, tuple[str, dict[str, str]]] = {
    "CTR-PRIVILEGED": ("cadvisor", {"field": "HostConfig.Privileged", "value": "true"}),
    "CTR-DOCKER-SOCKET": (
        "gitlab-runner",
        {"field": "Mounts[0].Source", "value": "/var/run/docker.sock"},
    ),
    "CTR-HOST-PATH-RW": ("node-exporter", {"field": "Mounts[1].Source", "value": "/ (rw)"}),
    "CTR-USER": ("api", {"field": "Config.User", "value": '""'}),
    "CTR-CAP-ADD": ("vpn-gateway", {"field": "HostConfig.CapAdd", "value": '["NET_ADMIN"]'}),
    "CTR-SECCOMP": (
        "debug-shell",
        {"field": "HostConfig.SecurityOpt", "value": "seccomp=unconfined"},
    ),
    "CTR-SECRETS": ("worker", {"field": "Config.Env", "value": "DB_PASSWORD=<redacted>"}),
    "CTR-HOST-NETWORK": ("haproxy", {"field": "HostConfig.NetworkMode", "value": "host"}),
    "CTR-MEMORY-LIMIT": ("postgres", {"field": "HostConfig.Memory", "value": "0"}),
    "CTR-PIDS-LIMIT": ("redis", {"field": "HostConfig.PidsLimit", "value": "0"}),
    "CTR-READONLY-ROOTFS": ("nginx", {"field": "HostConfig.ReadonlyRootfs", "value": "false"}),
    "CTR-NO-NEW-PRIVILEGES": ("scheduler", {"field": "HostConfig.SecurityOpt", "value": "[]"}),
    "CTR-IMAGE-LATEST": ("metrics", {"field": "Config.Image", "value": "prom/statsd:latest"}),
    "CTR-HEALTHCHECK": ("log-shipper", {"field": "Config.Healthcheck", "value": "null"}),
}
# Worse hosts fail the dangerous rules too; better ones only the hygiene ones.
HYGIENE = [
    "CTR-MEMORY-LIMIT",
    "CTR-PIDS-LIMIT",
    "CTR-READONLY-ROOTFS",
    "CTR-HEALTHCHECK",
    "CTR-IMAGE-LATEST",
    "CTR-NO-NEW-PRIVILEGES",
]
SERIOUS = ["CTR-USER", "CTR-CAP-ADD", "CTR-SECRETS", "CTR-HOST-NETWORK", "CTR-SECCOMP"]
CRITICAL = ["CTR-PRIVILEGED", "CTR-DOCKER-SOCKET", "CTR-HOST-PATH-RW"]


def _curve(host: SeedHost, rng: random.Random) -> list[int]:
    """Daily scores from 90 days ago to today: a steady climb, noise, one bad week."""
    dip_day = rng.randrange(20, 70)
    scores = []
    for i in range(DAYS + 1):
        value = host.start + (host.end - host.start) * i / DAYS + rng.uniform(-2.5, 2.5)
        if dip_day <= i < dip_day + 6:
            value -= 9
        scores.append(round(min(100, max(0, value))))
    scores[-1] = host.end
    return scores


def _failing_rules(host: SeedHost, rng: random.Random) -> list[str]:
    gap = 100 - host.end
    rules = rng.sample(HYGIENE, min(len(HYGIENE), 1 + gap // 12))
    if host.end < 80:
        rules += rng.sample(SERIOUS, min(len(SERIOUS), gap // 15))
    if host.end < 60 or host.team == "platform":
        rules += rng.sample(CRITICAL, 1 + (host.end < 50))
    return rules


def _finding(host: Host, rule_id: str, opened: datetime, resolved: datetime | None) -> Finding:
    subject, evidence = PROBLEMS[rule_id]
    return Finding(
        host=host,
        rule_id=rule_id,
        severity=int(REGISTRY[rule_id].severity),
        subject_kind="container",
        subject_key=f"{host.pk:04d}{rule_id.encode().hex()}"[:64].ljust(64, "0"),
        subject_name=subject,
        evidence=[evidence],
        opened_at=opened,
        resolved_at=resolved,
    )


def seed_fleet() -> list[Host]:
    now = timezone.now()
    today = timezone.localdate()
    hosts = []
    for index, spec in enumerate(FLEET):
        rng = random.Random(spec.name)
        host = Host.objects.create(
            name=spec.name,
            # Names, not addresses: nothing is ever dialled, and the lab stays on loopback.
            endpoint=f"tcp://{spec.name}.{spec.env}.example.org:2376",
            labels={"env": spec.env, "team": spec.team},
            owner_email=f"{spec.team}@example.org",
        )
        hosts.append(host)
        scores = _curve(spec, rng)
        samples = []
        for offset, score in enumerate(scores):
            day = today - timedelta(days=DAYS - offset)
            taken = min(day_start(day) + timedelta(hours=1, minutes=5 * index), now)
            samples.append(
                ScoreSample(host=host, taken_at=taken, score=score, grade=grade_for(score, False))
            )
        ScoreSample.objects.bulk_create(samples)

        failing = _failing_rules(spec, rng)
        findings = [
            _finding(host, rule, now - timedelta(days=rng.randrange(3, 120), hours=index), None)
            for rule in failing
        ]
        # What the climb fixed: rules that failed earlier in the period and were resolved.
        fixed = [r for r in PROBLEMS if r not in failing]
        for rule in rng.sample(fixed, min(len(fixed), (spec.end - spec.start) // 6)):
            opened = now - timedelta(days=rng.randrange(60, 110))
            resolved = opened + timedelta(days=rng.randrange(2, 45), hours=rng.randrange(24))
            findings.append(_finding(host, rule, opened, min(resolved, now)))
        Finding.objects.bulk_create(findings)

        open_findings = [f for f in findings if f.resolved_at is None]
        by_severity = [f.severity for f in open_findings]
        critical = 4 in by_severity
        finished = now - timedelta(minutes=3 + index)
        run = ScanRun.objects.create(
            host=host,
            status=ScanRun.Status.SUCCEEDED,
            requested_at=finished - timedelta(seconds=4),
            started_at=finished - timedelta(seconds=4),
            finished_at=finished,
            duration_ms=4000,
            engine_version="27.3.1",
            api_version="1.47",
            containers=spec.containers,
            images=spec.containers // 2 + 1,
            score=spec.end,
            grade=grade_for(spec.end, critical),
        )
        HostPosture.objects.create(
            host=host,
            current_scan=run,
            last_scan=run,
            score=spec.end,
            grade=grade_for(spec.end, critical),
            failing_critical=by_severity.count(4),
            failing_high=by_severity.count(3),
            failing_medium=by_severity.count(2),
            failing_low=by_severity.count(1),
            rules_assessed=53,
            rules_unknown=0,
            rule_summary=_summary(spec.containers, open_findings),
            engine_version="27.3.1",
            containers=spec.containers,
            images=spec.containers // 2 + 1,
            last_success_at=run.finished_at,
            last_attempt_at=run.finished_at,
        )
    # The postures are written around findings.store: their shares of the rule pages'
    # totals are computed once here, as after any bulk load.
    rebuild_contributions()
    rollup_scores()
    return hosts


def _summary(containers: int, open_findings: list[Finding]) -> dict[str, dict[str, Any]]:
    """The per-rule outcome counts a scan stores, for the rule pages' pass rates."""
    failing = {f.rule_id for f in open_findings}
    return {
        rule_id: {
            "pass": containers - (rule_id in failing),
            "fail": int(rule_id in failing),
            "na": 0,
            "unknown": 0,
            "manual": 0,
            "causes": {},
            "reasons": [],
        }
        for rule_id in PROBLEMS
    }


def seed_exceptions(hosts: list[Host]) -> None:
    """Three accepted risks for the /exceptions/ screenshot: the app is new, so it is only
    imported when a screenshot of its page is wanted."""
    from policy.models import RiskException

    now = timezone.now()
    by_name = {h.name: h for h in hosts}
    RiskException.objects.bulk_create(
        [
            RiskException(
                rule_id="CTR-DOCKER-SOCKET",
                host=by_name["ci-runner-1"],
                container_pattern="gitlab-runner",
                reason="The CI runner starts build containers; moving to rootless BuildKit in Q1.",
                owner="platform@example.org",
                expires_at=now + timedelta(days=45),
                created_by="alice",
            ),
            RiskException(
                rule_id="CTR-HOST-NETWORK",
                label_key="team",
                label_value="payments",
                container_pattern="haproxy",
                reason="Edge proxy needs the host's source addresses for the PCI audit log.",
                owner="payments@example.org",
                expires_at=now + timedelta(days=5),
                created_by="alice",
            ),
            RiskException(
                rule_id="CTR-MEMORY-LIMIT",
                host=by_name["data-lake"],
                reason="Limits being sized after the October load test.",
                owner="data@example.org",
                expires_at=now - timedelta(days=3),
                created_by="bob",
            ),
        ]
    )


def seed_plan_host(name: str = "demo", crowd: int = 200) -> Host:
    """A host like `scripts/run`'s demo, for the host page as a plan (issue 16): ~30 failing
    rules over `crowd` containers (one rule failing on all of them, so that its list loads
    on demand), one failure accepted by a risk exception, the host-level rules unknown for
    want of SSH, a few image rules waiting for a deep read or vulnerability data, and a
    history longer than the page shows. Its score is rules.score_host's over that picture
    (findings.fixfirst.rescore), as a scan would have stored it."""
    from findings.fixfirst import rescore, tallies_of
    from rules.base import Scope, Source

    now = timezone.now()
    rng = random.Random(name)
    host = Host.objects.create(
        name=name, endpoint="unix:///var/run/docker.sock", labels={"env": "dev", "team": "lab"}
    )
    api = [r for r in sorted(REGISTRY.values(), key=lambda r: r.id) if r.source is Source.API]
    containers = [r for r in api if r.scope is Scope.CONTAINER and r.severity > 0]
    daemon = [r for r in api if r.scope is Scope.DAEMON and r.severity > 0]
    failing = containers[:22] + daemon[:8]
    summary: dict[str, dict[str, Any]] = {}
    findings = []
    for index, rule in enumerate(failing):
        if rule.scope is Scope.DAEMON:
            subjects, total = [("", "daemon")], 1
        else:
            many = crowd if index == 0 else rng.randrange(1, 7)
            subjects = [(f"{i:064x}", f"svc-{i:03d}") for i in range(many)]
            total = crowd
        for key, subject in subjects:
            findings.append(
                Finding(
                    host=host,
                    rule_id=rule.id,
                    severity=int(rule.severity),
                    subject_kind=rule.scope.value,
                    subject_key=key,
                    subject_name=subject,
                    evidence=[{"field": f"{rule.id.lower()}.setting", "value": "not set"}],
                    opened_at=now - timedelta(days=rng.randrange(1, 60)),
                    # One failure a risk exception accepted: out of the score and the plan.
                    accepted=index == 1 and subject == "svc-000",
                )
            )
        summary[rule.id] = {**_COUNTS, "pass": total - len(subjects), "fail": len(subjects)}
    for rule in api:
        if rule.id not in summary and rule.scope is not Scope.IMAGE:
            summary[rule.id] = {**_COUNTS, "pass": crowd if rule.scope is Scope.CONTAINER else 1}
    unknown = {
        "host-level check: the host is not reachable over SSH": (
            "no_ssh",
            [r for r in REGISTRY.values() if r.source is Source.SSH],
        ),
        "file modes need the deep image read (image scan: deep)": (
            "data_missing",
            [r for r in api if r.scope is Scope.IMAGE][:3],
        ),
        "not assessed: no vulnerability data for Debian:12": (
            "data_missing",
            [r for r in api if r.scope is Scope.IMAGE][3:5],
        ),
    }
    for reason, (cause, rules) in unknown.items():
        for rule in rules:
            entry = {**_COUNTS, "unknown": 1, "causes": {cause: 1}, "reasons": [reason]}
            summary[rule.id] = entry
    Finding.objects.bulk_create(findings)
    accepted = {f.rule_id: (f.severity, 1) for f in findings if f.accepted}
    score = rescore(tallies_of(summary, accepted))
    grade = grade_for(score, critical_failing=any(r.severity == 4 for r in failing))
    runs = []
    for back in range(8, -1, -1):
        finished = now - timedelta(hours=6 * back, minutes=1)
        runs.append(
            ScanRun.objects.create(
                host=host,
                status=ScanRun.Status.SUCCEEDED,
                requested_at=finished - timedelta(seconds=3),
                started_at=finished - timedelta(seconds=3),
                finished_at=finished,
                duration_ms=3000,
                engine_version="27.3.1",
                api_version="1.47",
                containers=crowd,
                images=12,
                score=score,
                grade=grade,
            )
        )
    HostPosture.objects.create(
        host=host,
        current_scan=runs[-1],
        last_scan=runs[-1],
        score=score,
        grade=grade,
        rule_summary=summary,
        engine_version="27.3.1",
        containers=crowd,
        images=12,
        last_success_at=runs[-1].finished_at,
        last_attempt_at=runs[-1].finished_at,
    )
    rebuild_contributions()
    return host


_COUNTS: dict[str, Any] = {
    "pass": 0,
    "fail": 0,
    "na": 0,
    "unknown": 0,
    "manual": 0,
    "causes": {},
    "reasons": [],
}
