"""End to end on the real test dockerd: a scan reads each image's packages once, matches them
against imported OSV/KEV/EPSS data, and the rules, findings, JSON report and CI gates follow;
new data or a triage decision changes the verdicts without reading any image again."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import docker
import docker.errors
import pytest
from django.core.management import call_command
from django.utils import timezone

from findings.models import Finding
from hosts.models import Host
from lab import distro_images, vulndata
from lab.daemon import LabDaemon
from scans import services
from scans.models import ScanRun
from vulns import inventories
from vulns.models import ImageInventory, VulnDecision, VulnOccurrence

pytestmark = [pytest.mark.docker, pytest.mark.django_db]

NAMES = {
    "pst-vuln-debian": distro_images.build_debian_like,
    "pst-vuln-distroless": distro_images.build_distroless_like,
    "pst-vuln-alpine": distro_images.build_alpine_like,
}


@pytest.fixture(scope="module")
def distro_containers(lab_client: docker.APIClient) -> Iterator[dict[str, str]]:
    made = {}
    for name, build in NAMES.items():
        image_id = build(lab_client)
        with contextlib.suppress(docker.errors.NotFound):
            lab_client.remove_container(name, force=True, v=True)
        lab_client.create_container(
            image_id,
            name=name,
            command=["sleep", "600"],
            labels={"posture.lab.test": "vulns"},
            host_config=lab_client.create_host_config(network_mode="none"),
        )
        lab_client.start(name)
        made[name] = image_id
    yield made
    for name in NAMES:
        with contextlib.suppress(docker.errors.NotFound):
            lab_client.remove_container(name, force=True, v=True)


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def scan(host: Host) -> ScanRun:
    scan_run, _ = services.request_scan(host, ScanRun.Trigger.CLI, enqueue=False)
    done = services.run_scan(scan_run.pk)
    assert done.status == ScanRun.Status.SUCCEEDED, done.error_detail
    return done


def test_no_data_means_not_assessed(lab_daemon: LabDaemon, distro_containers):
    host = Host.objects.create(name="lab", endpoint=lab_daemon.unix_url)
    scan(host)
    report = json.loads(run("scan", "lab", "--no-scan", "--format", "json"))
    debian = next(i for i in report["images"] if distro_images.DEBIAN_TAG in i["references"])
    assert debian["assessed"] is False
    assert "no vulnerability data" in debian["not_assessed_reason"]
    assert report["vulnerabilities"] == []
    kev = Finding.objects.filter(rule_id="CTR-VULN-KEV", resolved_at__isnull=True)
    assert not kev.exists()  # unknown, never a pass nor a fail
    with pytest.raises(SystemExit) as gate:
        run("scan", "lab", "--no-scan", "--fail-on-kev")
    assert gate.value.code == 3


def test_scan_matches_gates_rematches_and_triage(
    lab_daemon: LabDaemon, distro_containers, tmp_path: Path
):
    run("vulndb", "import", *map(str, vulndata.write_demo(tmp_path)))
    host = Host.objects.create(name="lab", endpoint=lab_daemon.unix_url, labels={"team": "pay"})
    scan(host)
    report = json.loads(run("scan", "lab", "--no-scan", "--format", "json"))

    debian = next(i for i in report["images"] if distro_images.DEBIAN_TAG in i["references"])
    assert debian["assessed"] and debian["os"]["id"] == "debian" and debian["packages"] >= 6
    found = {(v["id"], v["package"]): v for v in report["vulnerabilities"]}
    looney = found[("CVE-2023-4911", "libc6")]
    assert looney["installed_version"] == "2.36-9+deb12u1"
    assert looney["fixed_version"] == "2.36-9+deb12u3"
    assert looney["kev"] is True and looney["epss"] is not None
    assert "DSA-5514-1" in looney["aliases"]
    assert "pst-vuln-debian" in looney["containers"]
    # Matched by source package and version: the binNMU binary is not compared as bzip2.
    assert ("CVE-2022-37434", "zlib1g") not in found  # Debian 11's fix, not Debian 12 data
    # OS mode reads OS packages only: the pip and npm copies wait for deep mode.
    assert not any(v["package"] in ("requests", "lodash") for v in report["vulnerabilities"])

    kev = Finding.objects.get(rule_id="CTR-VULN-KEV", subject_name="pst-vuln-debian")
    assert "CVE-2023-4911" in kev.evidence[0]["value"]
    assert VulnOccurrence.objects.filter(host=host, vuln="CVE-2023-4911").exists()

    with pytest.raises(SystemExit) as gate:
        run("scan", "lab", "--no-scan", "--fail-on-kev")
    assert gate.value.code == 3

    # Scanning again reads no image again.
    read = dict(ImageInventory.objects.values_list("key", "read_at"))
    scan(host)
    assert dict(ImageInventory.objects.values_list("key", "read_at")) == read

    # A triage decision for the repository: the vulnerability leaves the verdicts.
    VulnDecision.objects.create(
        vuln="CVE-2023-4911",
        state=VulnDecision.State.NOT_AFFECTED,
        justification=VulnDecision.Justification.NOT_IN_EXECUTE_PATH,
        scope=VulnDecision.Scope.REPOSITORY,
        scope_value="posture-lab/debian-like",
        reason="setuid binaries are removed from this image",
        owner="sec@example.org",
        expires_at=timezone.now() + timezone.timedelta(days=30),
    )
    scan(host)
    kev.refresh_from_db()
    assert kev.resolved_at is not None
    report = json.loads(run("scan", "lab", "--no-scan", "--format", "json"))
    still = {v["image"] for v in report["vulnerabilities"] if v["id"] == "CVE-2023-4911"}
    # The decision covers its repository only: the distroless image's glibc stays open.
    assert distro_containers["pst-vuln-debian"] not in still
    assert distro_containers["pst-vuln-distroless"] in still


def test_new_data_is_matched_without_reading_images(
    lab_daemon: LabDaemon, distro_containers, tmp_path: Path
):
    host = Host.objects.create(name="lab", endpoint=lab_daemon.unix_url)
    run("vulndb", "import", *map(str, vulndata.write_demo(tmp_path / "a")))
    scan(host)
    before = dict(ImageInventory.objects.values_list("key", "read_at"))
    # A new advisory for the tzdata of the distroless image.
    extra = vulndata.osv_record(
        "DEBIAN-CVE-2099-0001",
        [
            {
                "package": {"ecosystem": "Debian:12", "name": "tzdata"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": "2099a-0+deb12u1"}],
                    }
                ],
            }
        ],
        upstream=["CVE-2099-0001"],
    )
    run("vulndb", "import", str(vulndata.write_osv_dir(tmp_path / "b", [extra])))
    changed = inventories.rematch()
    assert len(changed) == 1
    assert dict(ImageInventory.objects.values_list("key", "read_at")) == before
    scan(host)
    report = json.loads(run("scan", "lab", "--no-scan", "--format", "json"))
    assert ("CVE-2099-0001", "tzdata") in {
        (v["id"], v["package"]) for v in report["vulnerabilities"]
    }
