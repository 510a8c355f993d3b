"""Random SIGKILLs of Celery workers and of beat across full cycles of a changing fleet:
the same final state as a fault-free run, and nothing run or sent twice.

GIVEN a simulated fleet that gains a misconfigured container on every host each cycle
(a regression, so an alert mail, per host per cycle after the first), two real workers
and a real beat on Redis, a subscriber for alerts and weekly reports
WHEN the cycles run under random SIGKILLs of the workers and the beat (team "chaos"),
as many as it takes for every kill to land, and then as many without faults (team "ref"),
each cycle followed by the rollup and report tasks
THEN both teams end with the same findings, score samples, regressions, notifications and
mails received by the SMTP server, no slot scanned twice and nothing left running.

CI runs 10 kills over 2 cycles; `scripts/kill-campaign` runs the full campaign (≥ 100
kills) with the same code and prints its figures (docs/RELIABILITY.md).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from lab.smtp import LabSmtp
from tests.system.faults.campaign import (
    HOSTS,
    Fleet,
    claimed_by_the_dead,
    copies,
    duplicates,
    make_team,
    run_cycles,
    snapshot,
)
from tests.system.faults.processes import Service, as_the_services, service_env
from vulns.models import ImageInventory

pytestmark = [
    pytest.mark.celery,
    pytest.mark.django_db(transaction=True),
    # Row locks and concurrent writers are what kills put to the test: PostgreSQL's run.
    pytest.mark.skipif(
        "sqlite" in settings.DATABASES["default"]["ENGINE"],
        reason="concurrency faults run on PostgreSQL",
    ),
]
KILLS = int(os.environ.get("POSTURE_FAULT_KILLS", "10"))
CYCLES = int(os.environ.get("POSTURE_FAULT_CYCLES", "2"))
SEED = int(os.environ.get("POSTURE_FAULT_SEED", "14"))


def _services(broker: str, smtp: LabSmtp, workdir: Path, team: str) -> list[Service]:
    env = service_env(broker, smtp.port)
    return [
        Service("worker", f"{team}-w1", env, workdir),
        Service("worker", f"{team}-w2", env, workdir),
        Service("beat", f"{team}-beat", env, workdir),
    ]


def _run(
    team: str, cycles: int, kills: int, broker: str, smtp: LabSmtp, fleet: Fleet, workdir: Path
):
    hosts = make_team(team, HOSTS)
    services = [s.start() for s in _services(broker, smtp, workdir, team)]
    try:
        figures = run_cycles(team, hosts, fleet, services, cycles, kills, SEED)
    except AssertionError as exc:
        logs = "\n".join(f"== {s.name}\n{s.tail(1500)}" for s in services)
        raise AssertionError(f"{exc}\n{logs}") from None
    finally:
        for service in services:
            service.stop()
    return figures


def test_kill_campaign_same_final_state_as_fault_free_run(
    broker: str, lab_smtp: LabSmtp, tmp_path: Path
) -> None:
    fleet = Fleet(Path(f"/tmp/pst-faults-sim-{os.getpid()}"))
    try:
        # Under fire first: it decides how many cycles it takes for every kill to land.
        figures = _run("chaos", CYCLES, KILLS, broker, lab_smtp, fleet, tmp_path)
        # What killed workers claimed and never marked sent, taken back by the sweeps as
        # they run once the claims' lease is over (the workers are stopped by now).
        stuck = claimed_by_the_dead("chaos")
        _sweep_after_the_lease()
        found = snapshot("chaos", lab_smtp)
        # The fault-free run reads the image inventories again too: they are per content,
        # fleet-wide, and the run under fire has read them (killed while reading some).
        ImageInventory.objects.all().delete()
        reference = _run("ref", figures.cycles, 0, broker, lab_smtp, fleet, tmp_path)
        expected = snapshot("ref", lab_smtp)
    finally:
        fleet.remove()

    report = {
        "seed": SEED,
        "hosts": HOSTS,
        "cycles": figures.cycles,
        "kills": figures.kills,
        "extra slots": figures.extra_slots,
        "interrupted scans": figures.interrupted,
        "wall seconds (fault-free, under fire)": [reference.wall_seconds, figures.wall_seconds],
        "mails (fault-free, under fire)": [len(expected["mails"]), len(found["mails"])],
        # Mails counted once per Message-ID, as the assertions below count them.
        "same final state": {**found, "mails": _by_id("chaos", lab_smtp)} == expected,
        "alerts claimed by a killed worker, sent by the sweep": stuck,
        "mails received twice under one Message-ID": sum(
            len(subjects) - 1 for subjects in copies("chaos", lab_smtp).values()
        ),
        "differences": {
            key: {"fault-free": _brief(expected[key]), "under fire": _brief(found[key])}
            for key in expected
            if found[key] != expected[key]
        },
    }
    print("\nkill campaign:", json.dumps(report))
    if path := os.environ.get("POSTURE_FAULT_FIGURES"):
        Path(path).write_text(json.dumps(report, indent=2) + "\n")

    assert expected["mails"], "the fault-free run mailed nothing: the campaign proves nothing"
    assert duplicates("ref") == []
    assert duplicates("chaos") == []
    for key in expected.keys() - {"notifications", "mails"}:
        assert found[key] == expected[key], key
    # No mail lost: after the sweep every message is sent, and each mail of the fault-free
    # run arrived. A kill between SMTP's acceptance and the commit may mail one twice, and
    # then both copies carry one Message-ID: counted once per id, the mails are the same.
    assert claimed_by_the_dead("ref") == 0
    assert claimed_by_the_dead("chaos") == 0
    assert found["notifications"] == expected["notifications"]
    by_id = copies("chaos", lab_smtp)
    assert all(len(set(subjects)) == 1 for subjects in by_id.values()), by_id
    assert _by_id("chaos", lab_smtp) == expected["mails"]
    assert sum(figures.kills.values()) == KILLS


def _by_id(team: str, smtp: LabSmtp) -> list[str]:
    return sorted(subjects[0] for subjects in copies(team, smtp).values())


def _sweep_after_the_lease() -> None:
    from alerts import services as alerts
    from trends import services as reports

    later = timezone.now() + max(alerts.CLAIM_LEASE, reports.CLAIM_LEASE) + timedelta(seconds=1)
    with as_the_services():
        alerts.send_due(now=later)
        reports.send_due_reports(now=later)


def _brief(value: object) -> object:
    """Counts rather than long lists: the figures say where the runs differ."""
    if isinstance(value, list) and value and not isinstance(value[0], tuple | list):
        return dict(Counter(str(v)[:60] for v in value))
    if isinstance(value, list) and len(value) > 20:
        return f"{len(value)} items"
    return value
