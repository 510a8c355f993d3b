"""The kill campaign: full scan cycles of a simulated fleet that changes between cycles,
run by real Celery workers and a real beat on Redis, while a killer SIGKILLs them at
random moments — during scans, image inventories, regression alerts, report mails and
rollups alike, since every worker takes both queues.

A run is one team's hosts (the `team` label) and one subscriber of that team: a
fault-free run and a run under fire share the database and the simulator, and their final
states are compared with the hosts and addresses named by index (`snapshot`).
"""

from __future__ import annotations

import random
import re
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from access.roles import Role
from access.services import set_role
from alerts.models import Notification, Regression, Subscription
from findings.models import Finding, ScoreSample
from hosts.models import Host
from lab.sim_engine import SimEngine, SimSpec
from lab.smtp import LabSmtp
from scans.models import ScanRun
from tests.factories import UserFactory
from tests.system.faults.processes import Service, as_the_services, wait_for

HOSTS = 3
# Containers on every host at cycle 0; each cycle adds one, whose sample misconfiguration
# is a new failing finding (a regression, so a mail) on every host.
BASE_CONTAINERS = 4
CYCLE_TIMEOUT = 120.0
# Under fire, cycles go on past the count asked for until every kill has landed, up to
# this many times that count.
MORE_CYCLES = 4


@dataclass
class Figures:
    team: str
    seed: int
    cycles: int
    kills: dict[str, int] = field(default_factory=Counter)
    extra_slots: int = 0
    interrupted: int = 0
    wall_seconds: float = 0.0


class Fleet:
    """The simulator, restarted between cycles with one more container per host: the
    sockets keep their paths, so the hosts' endpoints stay the same."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.engine: SimEngine | None = None

    def shape(self, cycle: int) -> list[str]:
        self.stop()
        spec = SimSpec(
            hosts=HOSTS,
            containers=BASE_CONTAINERS + cycle,
            images=2,
            # Slow enough that a kill lands inside a scan often, fast enough for CI.
            latency_ms=20,
            directory=str(self.directory),
        )
        self.engine = SimEngine(spec).start()
        return [host["url"] for host in self.engine.hosts]

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop()
            self.engine = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class Killer(threading.Thread):
    """SIGKILLs a random worker (or, one time in five, the beat) at random moments and
    starts it again at once, until `count` kills are done or it is stopped."""

    def __init__(self, services: list[Service], count: int, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.services, self.count, self.rng = services, count, rng
        self.kills: Counter[str] = Counter()
        self.halt = threading.Event()

    def run(self) -> None:
        workers = [s for s in self.services if s.kind == "worker"]
        beats = [s for s in self.services if s.kind == "beat"]
        while sum(self.kills.values()) < self.count and not self.halt.is_set():
            # Mean 1.5 s apart: several kills per cycle, some inside a scan's first
            # second (connection, listing), some in its store, some in the alert work.
            if self.halt.wait(self.rng.uniform(0.3, 2.7)):
                return
            pool = beats if beats and self.rng.random() < 0.2 else workers
            while not any(s.up() for s in pool) and not self.halt.is_set():
                time.sleep(0.1)
            victim = self.rng.choice([s for s in pool if s.up()] or pool)
            victim.kill()
            self.kills[victim.kind] += 1
            victim.start()


def make_team(team: str, hosts: int) -> list[Host]:
    from access.models import Team

    user = UserFactory(username=f"{team}-ops", email=f"ops@{team}.test", role=Role.OPERATOR)
    set_role(user, Role.OPERATOR, [Team.objects.create(name=team, label=team)])
    Subscription.objects.create(user=user, min_severity=1)
    from trends.models import ReportSubscription

    ReportSubscription.objects.create(user=user, team=team)
    return [
        Host.objects.create(
            name=f"{team}-{i}",
            endpoint="unix:///nonexistent",
            labels={"team": team},
            # Not due until its run begins: the cycles set the slots.
            next_scan_at=timezone.now() + timedelta(days=1),
        )
        for i in range(hosts)
    ]


def run_cycles(
    team: str,
    hosts: list[Host],
    fleet: Fleet,
    services: list[Service],
    cycles: int,
    kills: int,
    seed: int,
) -> Figures:
    """Every host scanned once per cycle (by beat's dispatch), the background work sent
    after each cycle, kills throughout; returns what happened."""
    from trends.tasks import rollup_scores, send_due_reports

    figures = Figures(team, seed, cycles)
    rng = random.Random(seed)
    killer = Killer(services, kills, rng)
    started = time.monotonic()
    cycle = 0
    try:
        # At least `cycles`; under fire, more until every kill has landed (a loaded machine
        # runs fewer cycles per kill), so that all of them fall inside full cycles. The
        # fault-free run is then given the count the run under fire reached.
        while cycle < cycles or (killer.is_alive() and cycle < cycles * MORE_CYCLES):
            urls = fleet.shape(cycle)
            for host, url in zip(hosts, urls, strict=False):
                Host.objects.filter(pk=host.pk).update(endpoint=url)
            # Runs after this id are the cycle's: not their times, which each worker writes
            # on its own clock (one of them may be skewed on purpose).
            cycle_start = ScanRun.objects.aggregate(last=Max("pk"))["last"] or 0
            Host.objects.filter(pk__in=[h.pk for h in hosts]).update(next_scan_at=timezone.now())
            if cycle == 0 and kills:
                killer.start()
            figures.extra_slots += _finish_cycle(hosts, cycle_start, kills > 0)
            # What beat sends hourly, sent now through the broker so a worker runs it
            # (and may be killed running it).
            rollup_scores.delay()
            send_due_reports.delay()
            cycle += 1
    finally:
        killer.halt.set()
        if killer.is_alive():
            killer.join(timeout=10)
    figures.cycles = cycle
    figures.kills = dict(killer.kills)
    _settle(team)
    figures.wall_seconds = round(time.monotonic() - started, 1)
    figures.interrupted = ScanRun.objects.filter(
        host__in=hosts, status=ScanRun.Status.INTERRUPTED
    ).count()
    return figures


def _finish_cycle(hosts: list[Host], cycle_start: int, under_fire: bool) -> int:
    """Wait for a succeeded scan of every host since the cycle began. A host whose scan and
    its one re-run were both killed waits for its next slot in production: give it that
    slot now (counted), rather than wait a whole interval."""
    extra = 0
    deadline = time.monotonic() + CYCLE_TIMEOUT
    ids = [h.pk for h in hosts]
    while time.monotonic() < deadline:
        # One statement, one snapshot: a scan finishing between two reads must not make its
        # host look idle (it would be given a slot it does not need).
        succeeded = ScanRun.objects.filter(
            host=OuterRef("pk"), status=ScanRun.Status.SUCCEEDED, pk__gt=cycle_start
        )
        active = ScanRun.objects.filter(host=OuterRef("pk"), status__in=ScanRun.ACTIVE)
        waiting = Host.objects.filter(pk__in=ids).exclude(Exists(succeeded))
        if not waiting.exists():
            return extra
        idle = waiting.filter(next_scan_at__gt=timezone.now()).exclude(Exists(active))
        for host in idle:
            runs = list(ScanRun.objects.values_list("pk", "host__name", "status", "trigger"))
            assert under_fire, f"{host.name}: no succeeded scan without a fault: {runs}"
            Host.objects.filter(pk=host.pk).update(next_scan_at=timezone.now())
            extra += 1
        time.sleep(0.3)
    runs = list(
        ScanRun.objects.filter(host__in=hosts).values_list("host__name", "status", "error_detail")
    )
    raise AssertionError(f"cycle did not finish: {runs[-12:]}")


def _settle(team: str) -> None:
    """Wait until nothing of the team is queued or running, and no alert waits in the
    queue; then run the alerts sweep as the beat would a few minutes later (it takes over
    what a killed worker left: events not fanned out, messages not sent)."""
    from alerts import services

    wait_for(
        lambda: not ScanRun.objects.active().filter(host__labels__team=team).exists(),
        CYCLE_TIMEOUT,
        f"{team}'s scans to settle",
    )
    time.sleep(3)  # process_events and report tasks already in the queue
    with as_the_services():
        services.send_due(now=timezone.now() + services.SWEEP_AFTER + timedelta(seconds=1))


_HOST = re.compile(r"\b(ref|chaos)-(\d+)\b")
_TEAM = re.compile(r"\b(ref|chaos)\b")


def _norm(text: str) -> str:
    return _TEAM.sub("team", _HOST.sub(r"host-\2", text))


def copies(team: str, smtp: LabSmtp) -> dict[str, list[str]]:
    """The subjects the SMTP server received for the team, by Message-ID: a message sent
    again after a kill that fell between SMTP's acceptance and the commit has two copies
    under one id (docs/RELIABILITY.md)."""
    by_id: dict[str, list[str]] = {}
    for rcpt, m in smtp.messages:
        if rcpt == [f"ops@{team}.test"]:
            by_id.setdefault(str(m["Message-ID"]), []).append(_norm(str(m["Subject"])))
    return by_id


def snapshot(team: str, smtp: LabSmtp) -> dict[str, Any]:
    """The final state that must not depend on faults, hosts named by index."""
    hosts = Host.objects.filter(labels__team=team)
    findings = Finding.objects.filter(host__in=hosts)
    norm = _norm
    mails = [m for rcpt, m in smtp.messages if rcpt == [f"ops@{team}.test"]]
    return {
        "open findings": sorted(
            (norm(f.host.name), f.rule_id, f.subject_kind, f.subject_name)
            for f in findings.open().select_related("host")
        ),
        "finding rows": findings.count(),
        "score samples": sorted(
            (norm(s.host.name), s.score)
            for s in ScoreSample.objects.filter(host__in=hosts).select_related("host")
        ),
        "regressions": sorted(
            (norm(r.host.name), r.kind, r.key, r.closed_at is None)
            for r in Regression.objects.filter(host__in=hosts).select_related("host")
        ),
        "notifications": sorted(
            Counter(
                (n.kind, n.status, n.held_reason)
                for n in Notification.objects.filter(to=f"ops@{team}.test")
            ).items()
        ),
        "mails": sorted(norm(str(m["Subject"])) for m in mails),
    }


def duplicates(team: str) -> list[str]:
    """What may never happen twice, whatever the faults: one scan per host per slot, one
    open finding per (host, rule, subject), no run left active or past its lease."""
    problems = []
    slots = Counter(
        ScanRun.objects.filter(host__labels__team=team, cycle__isnull=False).values_list(
            "host_id", "cycle"
        )
    )
    problems += [f"slot {k} ran {n} times" for k, n in slots.items() if n > 1]
    succeeded = Counter(
        ScanRun.objects.filter(
            host__labels__team=team, status=ScanRun.Status.SUCCEEDED
        ).values_list("host__name", flat=True)
    )
    samples = Counter(
        ScoreSample.objects.filter(host__labels__team=team).values_list("host__name", flat=True)
    )
    if succeeded != samples:
        problems.append(f"succeeded scans {succeeded} != score samples {samples}")
    subjects = Counter(
        Finding.objects.open()
        .filter(host__labels__team=team)
        .values_list("host_id", "rule_id", "subject_kind", "subject_key")
    )
    problems += [f"finding {k} open {n} times" for k, n in subjects.items() if n > 1]
    active = ScanRun.objects.active().filter(host__labels__team=team)
    problems += [f"{run} still active" for run in active]
    return problems


def claimed_by_the_dead(team: str) -> int:
    """Alerts a killed worker claimed and never marked sent: the sweep sends each again once
    its lease is over (docs/RELIABILITY.md)."""
    return Notification.objects.filter(
        to=f"ops@{team}.test", status=Notification.Status.SENDING
    ).count()
