"""A whole fleet scanned through a real Celery worker on real Redis.

Ten real dockerds on 127.0.0.11-20 (mutual TLS or SSH with pinned host keys, each with its
own population) and one registered host whose daemon is stopped (127.0.0.21). Four worker
threads scan them; the broken hosts must fail with the right error class without holding
up the healthy ones.
"""

from __future__ import annotations

from collections import Counter

import pytest
from django.utils import timezone

from findings.models import Container, Finding, HostPosture, Image, ScoreSample
from hosts.models import Host
from lab.fleet import LabFleet
from rules import REGISTRY
from scans import tasks
from scans.models import ScanRun
from scans.services import request_scan
from tests.system.fleet.support import wait_for_scans

pytestmark = [
    pytest.mark.docker,
    pytest.mark.ssh,
    pytest.mark.celery,
    pytest.mark.django_db(transaction=True),
]

# Generous for ~11 scans on two cores (SSH hosts also run the host-access script): a run
# of the whole wave takes ~10 s. A failing host that blocked a worker thread until the
# scan deadline (120 s) would blow it.
WAVE_SECONDS = 90
# No single healthy scan may take long: it would mean it waited on something else.
SCAN_SECONDS = 30

# What each member's population must show, as open findings: (rule id, container name).
EXPECTED_FINDINGS: dict[str, set[tuple[str, str]]] = {
    "fleet-hardened": set(),
    "fleet-privileged": {("CTR-PRIVILEGED", "lab-privileged"), ("CTR-CAP-ADD", "lab-cap-add")},
    "fleet-docker-sock": {("CTR-DOCKER-SOCKET", "lab-docker-sock")},
    "fleet-empty": set(),
    "fleet-host-ns": {
        ("CTR-HOST-NETWORK", "lab-host-network"),
        ("CTR-HOST-PID", "lab-pid-host"),
    },
    "fleet-secrets": {("CTR-SECRETS", "lab-env-secret"), ("CTR-SECRETS", "lab-secret-label")},
    "fleet-defaults": {("CTR-USER", "lab-root-user"), ("CTR-MEMORY-LIMIT", "lab-unlimited")},
    "fleet-mounts": {("CTR-HOST-PATH-RW", "lab-host-etc"), ("CTR-DEVICES", "lab-device")},
    "fleet-seccomp": {
        ("CTR-SECCOMP", "lab-seccomp-unconfined"),
        ("CTR-NO-NEW-PRIVILEGES", "lab-no-nnp"),
    },
}
EXPECTED_ERRORS = {"fleet-stopped": "unreachable", "fleet-rogue-cert": "tls_verify"}


def container_findings(host: Host) -> set[tuple[str, str]]:
    return set(
        Finding.objects.open()
        .for_host(host)
        .filter(subject_kind="container")
        .values_list("rule_id", "subject_name")
    )


def test_fleet_is_real_and_on_its_own_addresses(fleet: LabFleet) -> None:
    assert len([h for h in fleet.hosts.values() if h.running]) >= 10
    addresses = {h.member.address for h in fleet.hosts.values()}
    assert len(addresses) == len(fleet.hosts)
    assert all(a.startswith("127.0.0.") for a in addresses)
    assert {h.member.transport for h in fleet.hosts.values()} == {"tls", "ssh"}
    for name, daemon in fleet.daemons.items():
        assert (daemon.pid is not None) == fleet.hosts[f"fleet-{name}"].running, name


def test_whole_fleet_scanned_by_one_worker(
    fleet: LabFleet, fleet_hosts: dict[str, Host], worker: None, quick_retries: dict[str, int]
) -> None:
    """GIVEN eleven registered hosts, two of them broken (daemon stopped, rogue certificate)
    WHEN a scan is requested for each, the broken ones first, and a four-thread worker runs
    THEN every healthy host has a score and its population's findings, the broken ones
    failed with their own error class (the unreachable one after its retries, the
    certificate one at once), and no healthy scan waited on a broken one."""
    order = sorted(fleet_hosts.values(), key=lambda h: h.name not in EXPECTED_ERRORS)
    for host in order:
        _, created = request_scan(host)
        assert created
    elapsed = wait_for_scans(len(fleet_hosts), WAVE_SECONDS)

    scans = {scan.host.name: scan for scan in ScanRun.objects.select_related("host")}
    assert set(scans) == set(fleet_hosts)
    for name, error_class in EXPECTED_ERRORS.items():
        scan = scans[name]
        assert scan.status == ScanRun.Status.FAILED, (name, scan.status)
        assert scan.error_class == error_class, (name, scan.error_class, scan.error_detail)
        assert not HostPosture.objects.filter(host=scan.host, score__isnull=False).exists()
    # A refused connection may be a daemon restarting: retried. A certificate is not.
    assert scans["fleet-stopped"].attempts == quick_retries["ATTEMPTS"]
    assert scans["fleet-rogue-cert"].attempts == 1

    healthy = {name: scan for name, scan in scans.items() if name not in EXPECTED_ERRORS}
    for name, scan in healthy.items():
        assert scan.status == ScanRun.Status.SUCCEEDED, (name, scan.error_class, scan.error_detail)
        assert scan.score is not None and scan.duration_ms is not None
        assert scan.duration_ms < SCAN_SECONDS * 1000, (name, scan.duration_ms)
        member = fleet.hosts[name]
        posture = HostPosture.objects.get(host=scan.host)
        assert posture.score == scan.score
        assert posture.containers == len(member.containers)
        assert set(
            Container.objects.filter(host=scan.host, gone_at=None).values_list(
                "container_id", flat=True
            )
        ) == set(member.containers.values())
        found = container_findings(scan.host)
        assert EXPECTED_FINDINGS[name] <= found, (name, EXPECTED_FINDINGS[name] - found)
    # The broken hosts fail fast (a refused connection, a bad certificate) and wait out
    # their retries off the worker, so they never held a thread a healthy scan needed.
    for name in EXPECTED_ERRORS:
        assert (scans[name].duration_ms or 0) < 5000, (name, scans[name].duration_ms)
    assert elapsed < WAVE_SECONDS

    # The cheat sheet's rules 1 (daemon socket), 3 (capabilities) and 4 (privilege
    # escalation) fail where the populations break them, and nowhere on the hardened host.
    def owasp(name: str) -> set[int | str]:
        rules = {rule_id for rule_id, _ in container_findings(fleet_hosts[name])}
        return {number for rule_id in rules for number in REGISTRY[rule_id].owasp}

    assert 3 in owasp("fleet-privileged")
    assert not owasp("fleet-hardened") & {1, 2, 3, 4}
    assert 1 in owasp("fleet-docker-sock")
    assert 4 in owasp("fleet-seccomp")

    # Scores were checked non-null above; the hardened host beats every other, the empty
    # one included (it lacks the hardened daemon's --live-restore).
    scores = {name: scan.score or 0 for name, scan in healthy.items()}
    hardened = scores.pop("fleet-hardened")
    assert all(hardened > score for score in scores.values()), (hardened, scores)
    assert not container_findings(fleet_hosts["fleet-hardened"])
    assert scans["fleet-privileged"].grade in ("D", "F")  # a failing critical rule caps at D
    assert scans["fleet-empty"].containers == 0 and scans["fleet-empty"].images == 0
    assert not Image.objects.filter(host=fleet_hosts["fleet-empty"]).exists()

    # SSH hosts were also inspected over the same connection, and with ten dockerds on one
    # machine the host checks judged the daemon that was scanned, not another one.
    for name, member in fleet.hosts.items():
        if member.member.transport != "ssh" or name not in healthy:
            continue
        summary = HostPosture.objects.get(host=fleet_hosts[name]).rule_summary
        iptables = summary["DMN-IPTABLES"]
        assert iptables["fail"] == 1, (name, iptables)  # the lab runs --iptables=false
        pid = fleet.daemons[member.member.name].pid
        evidence = Finding.objects.open().get(host=fleet_hosts[name], rule_id="DMN-IPTABLES")
        assert f"/proc/{pid}/cmdline" in str(evidence.evidence), (name, evidence.evidence)


def test_dispatch_scans_fleet_and_unchanged_rescan_adds_only_samples(
    fleet: LabFleet, fleet_hosts: dict[str, Host], worker: None
) -> None:
    """GIVEN the fleet registered and due
    WHEN the worker runs dispatch_due_scans (as beat would send it) twice, the fleet unchanged
    THEN each cycle makes one scheduled ScanRun per host, and the second cycle writes one
    ScoreSample per successful host and no Finding, Container or Image row."""
    Host.objects.update(next_scan_at=timezone.now())
    tasks.dispatch_due_scans.delay()
    wait_for_scans(len(fleet_hosts), WAVE_SECONDS)

    first = Counter(ScanRun.objects.values_list("host__name", flat=True))
    assert first == Counter(dict.fromkeys(fleet_hosts, 1)), first
    assert set(ScanRun.objects.values_list("trigger", flat=True)) == {ScanRun.Trigger.SCHEDULE}
    succeeded = set(
        ScanRun.objects.filter(status=ScanRun.Status.SUCCEEDED).values_list("host__name", flat=True)
    )
    assert succeeded == set(fleet_hosts) - set(EXPECTED_ERRORS)
    # Not due again yet: a dispatch now queues nothing.
    assert tasks.dispatch_due_scans.apply().get() == 0

    counts = {model: model.objects.count() for model in (Finding, Container, Image, ScoreSample)}
    finding_ids = set(Finding.objects.values_list("pk", flat=True))
    Host.objects.update(next_scan_at=timezone.now())
    tasks.dispatch_due_scans.delay()
    wait_for_scans(2 * len(fleet_hosts), WAVE_SECONDS)

    second = Counter(ScanRun.objects.values_list("host__name", flat=True))
    assert second == Counter(dict.fromkeys(fleet_hosts, 2)), second
    assert ScoreSample.objects.count() == counts[ScoreSample] + len(succeeded)
    samples = Counter(ScoreSample.objects.values_list("host__name", flat=True))
    assert samples == Counter(dict.fromkeys(succeeded, 2)), samples
    assert set(Finding.objects.values_list("pk", flat=True)) == finding_ids
    assert not Finding.objects.filter(resolved_at__isnull=False).exists()
    for model in (Finding, Container, Image):
        assert model.objects.count() == counts[model], model.__name__
