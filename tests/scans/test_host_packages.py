"""OWASP rule 0 decided from the host's own package database and the distribution's data.

GIVEN a dpkg status file (or apk database) written here, read by the collector's own script
through a real local sh (grep keeps the container stack's stanzas only), and OSV records of
the distribution imported into vulndb
WHEN the host's packages are assessed and the version rules run
THEN a vendor build that carries the fix under an old upstream number passes, one without
it fails with the advisory as evidence, and a release without data, an RPM host or a daemon
not restarted after its upgrade stay "not assessed" with what to do.

The advisory facts are real, in our words: runc's CVE-2024-21626 ("Leaky Vessels", a leaked
host directory descriptor) was fixed in Debian 12 by DSA-5615-1 in runc 1.1.5+ds1-1+deb12u1
(upstream's fix is 1.1.12: Debian backported it), and in Alpine 3.19 by runc 1.1.12-r0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lab.vulndata import osv_record, write_osv_zip
from rules.base import Outcome
from rules.facts import FileStat, HostAccess
from rules.host_access import APK_INSTALLED, DPKG_STATUS, PACKAGE_GREPS
from scans import hostaccess, hostpackages
from scans.hostlocal import LocalShell
from scans.transports.base import Deadline
from tests.factories import check, evidence, host
from vulndb.importer import import_paths

pytestmark = pytest.mark.django_db

DEBIAN_12 = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
DEBIAN_11 = 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\nVERSION_ID="11"\n'
ALPINE_319 = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine v3.19"\n'


def stanza(name: str, version: str, source: str = "") -> str:
    lines = [
        f"Package: {name}",
        "Status: install ok installed",
        "Priority: optional",
        "Architecture: amd64",
    ]
    lines += [f"Source: {source}"] if source else []
    lines += [f"Version: {version}", f"Description: {name}", " long text", ""]
    return "\n".join(lines) + "\n"


def dpkg_status(runc: str) -> str:
    # Unrelated packages around the stack's, as in a real status file.
    return (
        stanza("bash", "5.2.15-2+b2")
        + stanza("runc", runc)
        + stanza("libc6", "2.36-9+deb12u4", "glibc")
        + stanza("docker.io", "20.10.24+dfsg1-1+deb12u1+b6", "docker.io (20.10.24+dfsg1-1+deb12u1)")
        + stanza("containerd", "1.6.20~ds1-1+deb12u3")
    )


APK_DB = """C:Q1abc=
P:busybox
V:1.36.1-r15
A:x86_64

C:Q1def=
P:runc
V:{runc}
A:x86_64
o:runc

"""


@pytest.fixture
def advisories(tmp_path: Path) -> None:
    records = [
        osv_record(
            "CVE-2024-21626",
            summary="runc leaks a host directory descriptor into new containers",
            details="An internal file descriptor to the host's /sys/fs/cgroup stays open in "
            "the container process, so a crafted working directory reaches the host's "
            "filesystem ('Leaky Vessels').",
            severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H"}],
        ),
        osv_record(
            "DSA-5615-1",
            [
                {
                    "package": {"ecosystem": "Debian:12", "name": "runc"},
                    "ranges": [
                        {
                            "type": "ECOSYSTEM",
                            "events": [{"introduced": "0"}, {"fixed": "1.1.5+ds1-1+deb12u1"}],
                        }
                    ],
                }
            ],
            upstream=["CVE-2024-21626"],
            summary="runc - security update",
        ),
        osv_record(
            "ALPINE-CVE-2024-21626",
            [
                {
                    "package": {"ecosystem": "Alpine:v3.19", "name": "runc"},
                    "ranges": [
                        {
                            "type": "ECOSYSTEM",
                            "events": [{"introduced": "0"}, {"fixed": "1.1.12-r0"}],
                        }
                    ],
                }
            ],
            upstream=["CVE-2024-21626"],
        ),
    ]
    import_paths([write_osv_zip(tmp_path / "osv.zip", records)])


def collected(os_release: str, database: str, text: str, tmp_path: Path) -> HostAccess:
    """The collector's own script, run by a local sh on files written here, its answer
    filed under the real paths (the script reads absolute paths; these live in tmp)."""
    status = tmp_path / "db"
    status.write_text(text)
    pattern = dict(PACKAGE_GREPS)[database]
    plan = hostaccess.Plan(greps=((str(status), pattern),))
    output, problem = LocalShell(Deadline(10)).run(hostaccess.build_script(plan), 1 << 20)
    assert problem == ""
    read = HostAccess(via="local")
    assert hostaccess.parse_output(output, plan, read).complete
    access = HostAccess(via="local", texts={"/etc/os-release": os_release})
    access.texts[database] = read.texts[str(status)]
    return access


def facts(access: HostAccess, runc_running: str, kernel: str = "6.1.0-18-amd64") -> Any:
    h = host(
        info={"KernelVersion": kernel},
        version={
            "Components": [
                {"Name": "Engine", "Version": "20.10.24+dfsg1"},
                {"Name": "containerd", "Version": "1.6.20~ds1"},
                {"Name": "runc", "Version": runc_running},
            ],
            "Version": "20.10.24+dfsg1",
        },
    )
    h.host = access
    h.packages = hostpackages.assess(access, h.info)
    return h


def test_the_collector_keeps_only_the_stacks_stanzas(tmp_path: Path) -> None:
    access = collected(DEBIAN_12, DPKG_STATUS, dpkg_status("1.1.5+ds1-1"), tmp_path)
    text = access.texts[DPKG_STATUS]
    assert "Package: runc" in text and "Package: docker.io" in text
    # grep's context may run into the next stanza (libc6 here), never the one before.
    assert "Package: bash" not in text
    h = facts(access, "1.1.5+ds1")
    assert sorted(h.packages.components) == ["containerd", "engine", "runc"]
    assert h.packages.components["engine"].source_version == "20.10.24+dfsg1-1+deb12u1"


def test_a_debian_runc_with_the_backported_fix_passes(advisories: None, tmp_path: Path) -> None:
    access = collected(DEBIAN_12, DPKG_STATUS, dpkg_status("1.1.5+ds1-1+deb12u1"), tmp_path)
    h = facts(access, "1.1.5+ds1")

    result = check("DMN-RUNC-VERSION", h)

    # Upstream's table alone would say "1.1.5 < 1.1.12": Debian's own data says fixed.
    assert result.outcome is Outcome.PASS, result
    assert evidence(result)["package runc (Debian:12)"] == "1.1.5+ds1-1+deb12u1"
    # The same data decides the Engine and containerd: no Debian 12 advisory names them.
    assert check("DMN-ENGINE-VERSION", h).outcome is Outcome.PASS
    assert check("DMN-CONTAINERD-VERSION", h).outcome is Outcome.PASS


def test_a_debian_runc_without_the_fix_fails_with_the_advisory(
    advisories: None, tmp_path: Path
) -> None:
    access = collected(DEBIAN_12, DPKG_STATUS, dpkg_status("1.1.5+ds1-1"), tmp_path)

    result = check("DMN-RUNC-VERSION", facts(access, "1.1.5+ds1"))

    assert result.outcome is Outcome.FAIL
    assert evidence(result)["CVE-2024-21626"] == "fixed in 1.1.5+ds1-1+deb12u1"


@pytest.mark.parametrize(("runc", "outcome"), [("1.1.12-r0", "pass"), ("1.1.11-r0", "fail")])
def test_alpine_runc_is_matched_by_its_apk_version(
    advisories: None, tmp_path: Path, runc: str, outcome: str
) -> None:
    access = collected(ALPINE_319, APK_INSTALLED, APK_DB.format(runc=runc), tmp_path)

    result = check("DMN-RUNC-VERSION", facts(access, runc.split("-")[0]))

    assert result.outcome == outcome


def test_a_release_without_data_says_which_to_import(advisories: None, tmp_path: Path) -> None:
    access = collected(DEBIAN_11, DPKG_STATUS, dpkg_status("1.0.0~rc93+ds1-5+deb11u2"), tmp_path)

    result = check("DMN-RUNC-VERSION", facts(access, "1.0.0-rc93"))

    assert result.outcome is Outcome.UNKNOWN
    assert "no vulnerability data for Debian:11 is imported" in result.reason


def test_a_daemon_not_restarted_after_the_upgrade_is_not_judged_by_the_package(
    advisories: None, tmp_path: Path
) -> None:
    access = collected(DEBIAN_12, DPKG_STATUS, dpkg_status("1.1.5+ds1-1+deb12u1"), tmp_path)

    result = check("DMN-RUNC-VERSION", facts(access, "1.1.4"))

    assert result.outcome is Outcome.UNKNOWN
    assert "restart the daemon" in result.reason


def test_an_rpm_host_says_its_database_is_not_read() -> None:
    access = HostAccess(
        texts={"/etc/os-release": 'ID="rhel"\nVERSION_ID="9.3"\n'},
        files={"/var/lib/rpm": FileStat("/var/lib/rpm", True, "directory", "root", "root", 0o755)},
    )
    h = facts(access, "1.1.9-1.el9")

    result = check("DMN-RUNC-VERSION", h)

    assert h.packages.database == "rpm"
    assert result.outcome is Outcome.UNKNOWN
    assert "not the host's RPM one" in result.reason


def test_docker_ce_is_left_to_the_upstream_table(advisories: None, tmp_path: Path) -> None:
    # Docker's own packages are upstream builds: no Debian advisory speaks for them.
    text = stanza("docker-ce", "5:20.10.17~3-0~debian-bookworm") + stanza("runc", "1.1.5+ds1-1")
    access = collected(DEBIAN_12, DPKG_STATUS, text, tmp_path)
    h = facts(access, "1.1.5+ds1")
    h.version["Version"] = "20.10.17"

    assert "engine" not in h.packages.components
    assert check("DMN-ENGINE-VERSION", h).outcome is Outcome.FAIL  # below 25.0.2 / 24.0.9
