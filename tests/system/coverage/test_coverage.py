"""Coverage of a unix:// host on this machine: at least 90 % of the rules that apply to it
assessed, and every rule left over with a reason a person can act on (issue 16).

GIVEN the suite's lab dockerd with its sample containers, and then the demo host exactly as
`scripts/run` makes it (`python -m lab up`: a private dockerd with misconfigured samples and
distro-like images, and the demo's vulnerability data imported), each added as unix://
WHEN each is scanned by a real run_scan on this machine (host checks read locally, rule 0
from this machine's dpkg database, images read in the host's mode)
THEN the host page's own coverage figure (fleet.hostpage.coverage) is at least 90 %, no rule
is left for want of SSH, and each rule not assessed says why, in words that name what
would assess it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from findings.models import HostPosture
from fleet.hostpage import coverage
from hosts.models import Host
from lab import __main__ as lab_cli
from lab import vulndata
from lab.daemon import LabDaemon
from lab.process import lab_root
from scans import services
from scans.models import ScanRun
from scans.transports import Limits
from vulndb.importer import import_paths

pytestmark = [pytest.mark.django_db, pytest.mark.docker]
LIMITS = Limits(deadline=180, connect_timeout=5, read_timeout=60, pool_size=2)
FLOOR = 90
# What a reason must name for a person to act on it: a mode or setting to change, data to
# import, a file or flag to check, or what the image lacks.
ACTIONABLE = re.compile(
    r"deep mode|POSTURE_IMAGE_SCAN|import|daemon\.json|command line|restart|os-release|"
    r"package database|SSH access|container of this image|no vulnerability data",
)


def scanned(name: str, endpoint: str, mode: str) -> tuple[ScanRun, dict]:
    host = Host.objects.create(name=name, endpoint=endpoint, image_scan=mode)
    run, _ = services.request_scan(host, enqueue=False)
    run = services.run_scan(run.pk, LIMITS)
    assert run.status == ScanRun.Status.SUCCEEDED, run.error_detail
    return run, HostPosture.objects.get(host=host).rule_summary


def not_assessed(summary: dict) -> dict[str, dict]:
    return {
        rule_id: entry
        for rule_id, entry in summary.items()
        if isinstance(entry, dict)
        and entry.get("unknown")
        and not entry.get("pass", 0) + entry.get("fail", 0)
    }


def assert_covered(run: ScanRun, summary: dict) -> None:
    assert run.host_access == ScanRun.HostAccess.LOCAL, run.host_access_note
    figures = coverage(summary)
    left = not_assessed(summary)
    detail = {rule_id: entry.get("reasons") for rule_id, entry in left.items()}
    assert figures.percent is not None and figures.percent >= FLOOR, detail
    for rule_id, entry in left.items():
        assert "no_ssh" not in entry["causes"], rule_id
        reasons = [r for r in entry.get("reasons") or [] if r]
        assert reasons, f"{rule_id} is not assessed without a reason"
        assert all(ACTIONABLE.search(r) for r in reasons), (rule_id, reasons)


@pytest.fixture
def demo_data(tmp_path: Path) -> None:
    import_paths(vulndata.write_demo(tmp_path))


@pytest.mark.parametrize("mode", ["os", "deep"])
def test_the_test_machines_daemon_is_covered(
    lab_daemon: LabDaemon, lab_samples: dict[str, str], demo_data: None, mode: str
) -> None:
    run, summary = scanned(f"lab-{mode}", lab_daemon.unix_url, mode)

    assert_covered(run, summary)
    # Rule 0 is answered from this machine's Debian packages, not deferred to a tracker.
    for rule_id in ("DMN-ENGINE-VERSION", "DMN-RUNC-VERSION", "DMN-CONTAINERD-VERSION"):
        assert summary[rule_id]["pass"] + summary[rule_id]["fail"] == 1, summary[rule_id]
    setuid = summary["IMG-SETUID"]
    if mode == "deep":
        assert setuid["pass"] + setuid["fail"] >= 1 and not setuid["unknown"], setuid
    else:
        assert "deep mode" in setuid["reasons"][0]


@pytest.fixture(scope="module")
def demo_host() -> Iterator[dict[str, object]]:
    """The demo daemon of scripts/run, under a directory of its own (not var/demo)."""
    directory = lab_root("test-cov-demo")
    made = lab_cli.up(directory, fresh=False)
    yield made
    if not made["reused"]:
        lab_cli.down(directory)


def test_the_demo_host_of_scripts_run_is_covered(demo_host: dict[str, object]) -> None:
    import_paths([Path(str(demo_host["vulndata"]))])  # as scripts/run imports it

    run, summary = scanned("demo", str(demo_host["docker_host"]), "os")

    assert_covered(run, summary)
