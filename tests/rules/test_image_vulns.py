"""Vulnerability rules over ImageFacts.vulns (vulns.inventories.summaries fills it)."""

from __future__ import annotations

from datetime import date

import pytest

from rules import image_vulns
from rules.base import Outcome
from rules.facts import ImageVulns, VulnRef
from tests.factories import check, container, evidence, image, outcome

FAIL, PASS, UNKNOWN, NA = Outcome.FAIL, Outcome.PASS, Outcome.UNKNOWN, Outcome.NOT_APPLICABLE

LOONEY = VulnRef("CVE-2023-4911", "libc6", "2.36-9+deb12u1", "2.36-9+deb12u3", 3, kev=True)
CURL = VulnRef("CVE-2023-38545", "libcurl4", "7.88.1-10+deb12u1", "7.88.1-10+deb12u4", 4)
UNFIXED = VulnRef("CVE-2024-0001", "libfoo", "1.0-1", "", 4)
DEBIAN = {"os_id": "debian", "os_version": "12", "os_name": "Debian GNU/Linux 12 (bookworm)"}


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_vulns, "today", lambda: date(2026, 12, 7))


def running(vulns: ImageVulns | None, state: bool = True):
    c = container({"State.Running": state})
    assert c.image is None or c.image is not None  # linked by the factory's host
    img = image()
    img.vulns = vulns
    c.image = img
    return c


def assessed(*refs: VulnRef, **os: str) -> ImageVulns:
    return ImageVulns(assessed=True, packages=120, vulnerabilities=refs, **(os or DEBIAN))


def test_known_exploited_in_a_running_container_fails_with_the_ids():
    result = check("CTR-VULN-KEV", running(assessed(LOONEY, CURL)))
    assert result.outcome is FAIL
    shown = evidence(result)["known exploited vulnerabilities"]
    assert "CVE-2023-4911 in libc6 2.36-9+deb12u1 (fixed in 2.36-9+deb12u3)" in shown
    assert "CVE-2023-38545" not in shown


def test_no_known_exploited_passes_and_a_stopped_container_is_not_concerned():
    assert outcome("CTR-VULN-KEV", running(assessed(CURL))) is PASS
    assert outcome("CTR-VULN-KEV", running(assessed(LOONEY), state=False)) is NA


def test_fixable_critical_fails_but_an_unfixed_one_does_not():
    assert outcome("CTR-VULN-CRITICAL", running(assessed(CURL))) is FAIL
    assert outcome("CTR-VULN-CRITICAL", running(assessed(UNFIXED, LOONEY))) is PASS


@pytest.mark.parametrize("rule_id", ["CTR-VULN-KEV", "CTR-VULN-CRITICAL"])
@pytest.mark.parametrize(
    "vulns, reason",
    [
        (None, "image scanning did not run"),
        (ImageVulns(assessed=False, reason="no vulnerability data for Debian:12"), "no vuln"),
        (ImageVulns(assessed=False, reason="RPM databases are not read yet"), "RPM"),
    ],
)
def test_nothing_known_is_never_a_pass(rule_id, vulns, reason):
    result = check(rule_id, running(vulns))
    assert result.outcome is UNKNOWN
    assert reason in result.reason


def test_many_ids_are_counted_not_all_listed():
    refs = [VulnRef(f"CVE-2024-{n:04}", "p", "1", "2", 4, kev=True) for n in range(12)]
    shown = evidence(check("CTR-VULN-KEV", running(assessed(*refs))))
    assert shown["known exploited vulnerabilities"].endswith('and 7 more"')


@pytest.mark.parametrize(
    "os, expected",
    [
        (DEBIAN, PASS),
        ({"os_id": "debian", "os_version": "11", "os_name": "Debian 11"}, FAIL),
        ({"os_id": "debian", "os_version": "9.13", "os_name": "Debian 9"}, FAIL),
        ({"os_id": "alpine", "os_version": "3.18.4", "os_name": "Alpine 3.18"}, FAIL),
        ({"os_id": "alpine", "os_version": "3.22.1", "os_name": "Alpine 3.22"}, PASS),
        ({"os_id": "ubuntu", "os_version": "22.04", "os_name": "Ubuntu 22.04"}, PASS),
        ({"os_id": "ubuntu", "os_version": "18.04", "os_name": "Ubuntu 18.04"}, FAIL),
        ({"os_id": "gentoo", "os_version": "2.15", "os_name": "Gentoo"}, UNKNOWN),
        ({"os_id": "debian", "os_version": "99", "os_name": "Debian 99"}, UNKNOWN),
        ({"os_id": "", "os_version": "", "os_name": ""}, NA),
    ],
)
def test_end_of_life_os(os, expected):
    img = image()
    img.vulns = assessed(**os)
    assert outcome("IMG-OS-EOL", img) is expected


def test_end_of_life_evidence_names_the_date():
    img = image()
    img.vulns = assessed(os_id="debian", os_version="11", os_name="Debian 11")
    assert evidence(check("IMG-OS-EOL", img))["end of security support"] == '"2026-08-31"'


@pytest.mark.parametrize(
    "created, refs, expected",
    [
        ("2025-01-01T00:00:00Z", (CURL,), FAIL),
        ("2025-01-01T00:00:00Z", (UNFIXED,), PASS),  # nothing a rebuild would fix
        ("2026-11-30T10:00:00.123456789Z", (CURL,), PASS),  # recent
    ],
)
def test_stale_image_with_fixes(created, refs, expected):
    img = image({"Created": created})
    img.vulns = assessed(*refs)
    assert outcome("IMG-VULN-STALE", img) is expected


def test_stale_image_unknown_without_inventory_or_date():
    img = image({"Created": "yesterday"})
    img.vulns = assessed(CURL)
    assert outcome("IMG-VULN-STALE", img) is UNKNOWN
    img = image()
    assert outcome("IMG-VULN-STALE", img) is UNKNOWN
