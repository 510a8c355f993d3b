"""Findings as SARIF 2.1.0, and `manage.py scan` as a CI gate (SARIF out, exit codes)."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from findings.export import FINDING_FIELDS
from findings.models import Finding
from findings.sarif import FINGERPRINT_KEY, sarif_log
from hosts.models import Host
from lab.daemon import LabDaemon
from rules import REGISTRY, Severity
from scans.models import ScanRun
from tests.factories import FindingFactory, HostFactory, HostPostureFactory
from tests.findings.sarif_check import check_sarif

pytestmark = pytest.mark.django_db

HOSTILE = "evil\"}],\n<script>alert(1)</script>\\u0000 =cmd|'/c calc'!A1 \u202e"


def log_of(**filters: Any) -> dict[str, Any]:
    rows = Finding.objects.open().filter(**filters).order_by("pk").values(*FINDING_FIELDS)
    return sarif_log(rows)


def a_rule(severity: Severity) -> str:
    return next(
        r.id for r in sorted(REGISTRY.values(), key=lambda r: r.id) if r.severity == severity
    )


def test_log_is_sarif_2_1_0_with_only_the_rules_in_its_results() -> None:
    host = HostFactory(name="web-1")
    FindingFactory(host=host, rule_id="CTR-PRIVILEGED", subject_name="api")
    FindingFactory(host=host, rule_id="CTR-PRIVILEGED", subject_name="db")
    daemon_rule = next(r for r in REGISTRY.values() if r.scope.value == "daemon")
    FindingFactory(
        host=host,
        rule_id=daemon_rule.id,
        severity=int(daemon_rule.severity),
        subject_kind="daemon",
        subject_key="",
        subject_name="",
        evidence=[],
    )

    log = log_of()
    check_sarif(log)

    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "Posture" and driver["version"]
    assert driver["informationUri"].startswith("http")
    assert [r["id"] for r in driver["rules"]] == ["CTR-PRIVILEGED", daemon_rule.id]
    privileged = REGISTRY["CTR-PRIVILEGED"]
    descriptor = driver["rules"][0]
    assert descriptor["shortDescription"]["text"] == privileged.title
    assert descriptor["fullDescription"]["text"] == privileged.rationale
    assert descriptor["help"]["text"] == privileged.remediation.en
    assert privileged.remediation.en in descriptor["help"]["markdown"]
    tags = descriptor["properties"]["tags"]
    assert {f"owasp-docker-{n}" for n in privileged.owasp} <= set(tags)
    assert {f"cis-docker-1.6.0-{c}" for c in privileged.cis} <= set(tags)
    assert descriptor["helpUri"].endswith("/rules/CTR-PRIVILEGED/")

    api, db, daemon = run["results"]
    assert (api["ruleId"], api["ruleIndex"], db["ruleIndex"]) == ("CTR-PRIVILEGED", 0, 0)
    assert daemon["ruleIndex"] == 1
    assert "container 'api' on host 'web-1'" in api["message"]["text"]
    assert "HostConfig.Privileged = true" in api["message"]["text"]
    assert api["properties"]["evidence"] == [{"field": "HostConfig.Privileged", "value": "true"}]
    host_loc, container_loc = api["locations"][0]["logicalLocations"]
    assert host_loc == {"name": "web-1", "fullyQualifiedName": "web-1", "kind": "module"}
    assert container_loc["name"] == "api" and container_loc["kind"] == "resource"
    assert container_loc["fullyQualifiedName"] == "web-1/container/api"
    # A daemon finding is located on the host alone.
    assert daemon["locations"][0]["logicalLocations"] == [host_loc]


@pytest.mark.parametrize(
    ("severity", "level", "score", "problem"),
    [
        (Severity.CRITICAL, "error", "9.5", "error"),
        (Severity.HIGH, "error", "8.0", "error"),
        (Severity.MEDIUM, "warning", "5.5", "warning"),
        (Severity.LOW, "note", "3.0", "recommendation"),
        (Severity.INFO, "note", "0.0", "recommendation"),
    ],
)
def test_severity_maps_to_level_and_security_severity(
    severity: Severity, level: str, score: str, problem: str
) -> None:
    FindingFactory(rule_id=a_rule(severity), severity=int(severity))

    log = log_of()
    check_sarif(log)

    (descriptor,) = log["runs"][0]["tool"]["driver"]["rules"]
    (result,) = log["runs"][0]["results"]
    assert result["level"] == level == descriptor["defaultConfiguration"]["level"]
    assert descriptor["properties"]["security-severity"] == score
    assert descriptor["properties"]["problem.severity"] == problem
    assert 0 <= float(score) <= 10


def test_a_regraded_finding_keeps_its_own_level() -> None:
    """GIVEN a host profile that re-grades a critical rule to low, WHEN exported, THEN the
    result carries the finding's severity and the rule its catalogue one."""
    FindingFactory(rule_id="CTR-PRIVILEGED", severity=int(Severity.LOW))

    run = log_of()["runs"][0]

    assert run["results"][0]["level"] == "note"
    assert run["results"][0]["properties"]["severity"] == "low"
    assert run["tool"]["driver"]["rules"][0]["defaultConfiguration"]["level"] == "error"


def test_fingerprints_are_stable_across_exports_and_reopened_findings() -> None:
    host = HostFactory(name="web-1")
    finding = FindingFactory(host=host, subject_key="a" * 64, subject_name="api")
    first = log_of()["runs"][0]["results"][0]["partialFingerprints"][FINGERPRINT_KEY]

    assert log_of()["runs"][0]["results"][0]["partialFingerprints"][FINGERPRINT_KEY] == first
    # Resolved, then failing again later with other evidence and a new name: the same
    # finding to a code-scanning tool, since host, rule and subject are the same.
    Finding.objects.filter(pk=finding.pk).update(resolved_at=timezone.now())
    FindingFactory(
        host=host,
        subject_key="a" * 64,
        subject_name="api-renamed",
        evidence=[{"field": "HostConfig.Privileged", "value": "True"}],
    )
    again = log_of()["runs"][0]["results"][0]["partialFingerprints"][FINGERPRINT_KEY]
    assert again == first
    FindingFactory(host=HostFactory(name="web-2"), subject_key="a" * 64)
    other = log_of(host__name="web-2")["runs"][0]["results"][0]
    assert other["partialFingerprints"][FINGERPRINT_KEY] != first


def test_hostile_names_and_evidence_stay_data() -> None:
    FindingFactory(
        host=HostFactory(name="h1"),
        subject_name=HOSTILE,
        evidence=[{"field": HOSTILE, "value": HOSTILE}],
    )

    log = log_of()
    text = json.dumps(log)
    back = json.loads(text)

    check_sarif(back)
    result = back["runs"][0]["results"][0]
    assert result["locations"][0]["logicalLocations"][1]["name"] == HOSTILE
    assert result["properties"]["evidence"] == [{"field": HOSTILE, "value": HOSTILE}]
    assert result["properties"]["subject"]["name"] == HOSTILE
    assert len(back["runs"][0]["results"]) == 1


def test_a_rule_gone_from_the_catalogue_still_makes_a_valid_log() -> None:
    FindingFactory(rule_id="CTR-RETIRED", severity=int(Severity.HIGH))

    log = log_of()

    check_sarif(log)
    (descriptor,) = log["runs"][0]["tool"]["driver"]["rules"]
    assert descriptor["id"] == "CTR-RETIRED"
    assert log["runs"][0]["results"][0]["level"] == "error"


def test_no_findings_is_an_empty_run() -> None:
    log = log_of()

    check_sarif(log)
    assert log["runs"][0]["results"] == [] and log["runs"][0]["tool"]["driver"]["rules"] == []


# --- manage.py scan as a CI gate ---------------------------------------------------------


def scan(*args: str) -> tuple[int, str, str]:
    """Run `manage.py scan`, returning (exit code, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("scan", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def fingerprints(log: dict[str, Any]) -> set[str]:
    return {r["partialFingerprints"][FINGERPRINT_KEY] for r in log["runs"][0]["results"]}


@pytest.mark.docker
def test_scan_prints_sarif_and_gates_on_score_and_severity(
    lab_daemon: LabDaemon, lab_samples: dict[str, str]
) -> None:
    Host.objects.create(name="lab", endpoint=lab_daemon.unix_url)

    code, out, _ = scan("lab", "--wait", "--format", "sarif")
    log = json.loads(out)

    assert code == 0
    check_sarif(log)
    results = log["runs"][0]["results"]
    privileged = [r for r in results if r["ruleId"] == "CTR-PRIVILEGED"]
    assert [r["locations"][0]["logicalLocations"][1]["name"] for r in privileged] == [
        "lab-privileged"
    ]
    assert privileged[0]["level"] == "error"
    assert len(results) == Finding.objects.open().count()

    # The lab has a privileged container (critical), and its score is far from 100.
    code, _, err = scan("lab", "--wait", "--fail-on", "critical")
    assert code == 3 and "severity critical or above" in err
    code, _, err = scan("lab", "--wait", "--format", "json", "--fail-under", "100")
    assert code == 3 and "is below 100" in err
    code, _, err = scan("lab", "--wait", "--fail-under", "0")
    assert (code, err) == (0, "")

    # --no-scan reports the same picture without a scan, and gates the same way.
    scans_before = ScanRun.objects.count()
    code, out, _ = scan("lab", "--no-scan", "--format", "sarif")
    assert code == 0 and fingerprints(json.loads(out)) == fingerprints(log)
    assert scan("lab", "--no-scan", "--fail-on", "high")[0] == 3
    assert ScanRun.objects.count() == scans_before


def test_a_failed_scan_exits_2_even_when_a_gate_would_fail() -> None:
    Host.objects.create(name="gone", endpoint="unix:///tmp/pst-nothing.sock")

    code, _, err = scan("gone", "--wait", "--fail-under", "50", "--fail-on", "low")

    assert code == 2 and "gate failed" not in err


def test_no_scan_gates_on_the_last_picture() -> None:
    host = HostFactory(name="web-1")
    HostPostureFactory(host=host, score=72)
    FindingFactory(host=host, rule_id=a_rule(Severity.MEDIUM), severity=int(Severity.MEDIUM))
    FindingFactory(host=host, rule_id=a_rule(Severity.INFO), severity=int(Severity.INFO))

    assert scan("web-1", "--no-scan", "--fail-under", "72")[0] == 0
    assert scan("web-1", "--no-scan", "--fail-under", "73")[0] == 3
    assert scan("web-1", "--no-scan", "--fail-on", "high")[0] == 0
    code, _, err = scan("web-1", "--no-scan", "--fail-on", "medium")
    assert code == 3 and "1 open finding(s) of severity medium or above" in err
    assert scan("web-1", "--no-scan", "--fail-on", "low")[0] == 3
    # Info findings never trip a gate: "low" is the lowest level one can ask for.
    info_only = HostFactory(name="web-2")
    HostPostureFactory(host=info_only, score=100)
    FindingFactory(host=info_only, rule_id=a_rule(Severity.INFO), severity=int(Severity.INFO))
    assert scan("web-2", "--no-scan", "--fail-on", "low")[0] == 0
    code, out, _ = scan("web-1", "--no-scan")
    assert code == 0 and "web-1: score 72" in out
    assert ScanRun.objects.filter(trigger=ScanRun.Trigger.CLI).count() == 0


def test_a_host_without_a_score_fails_a_score_gate() -> None:
    HostFactory(name="new")

    code, out, err = scan("new", "--no-scan", "--fail-under", "1")

    assert code == 3 and "no score yet" in err and "no picture yet" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--wait", "--no-scan"), "exclude each other"),
        (("--fail-on", "high"), "need --wait or --no-scan"),
        (("--format", "sarif"), "need --wait or --no-scan"),
    ],
)
def test_gate_options_need_a_report(args: tuple[str, ...], message: str) -> None:
    HostFactory(name="web-1")

    with pytest.raises(CommandError, match=message):
        call_command("scan", "web-1", *args, stdout=StringIO(), stderr=StringIO())


def test_help_documents_the_exit_codes() -> None:
    from scans.management.commands.scan import Command

    assert "2 the scan failed" in Command.help and "3 a gate failed" in Command.help
