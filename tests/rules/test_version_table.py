"""OWASP rule 0: the minimum-version table, its operator override, containerd and kernel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rules import REGISTRY, Outcome
from rules.facts import HostFacts
from rules.versions import below_fixed, release


def host(kernel: str = "6.1.0", containerd: str = "1.7.13") -> HostFacts:
    return HostFacts(
        version={
            "Version": "26.1.0",
            "Components": [
                {"Name": "Engine", "Version": "26.1.0"},
                {"Name": "containerd", "Version": containerd, "Details": {"GitCommit": "abc"}},
                {"Name": "runc", "Version": "1.1.12"},
            ],
        },
        info={"KernelVersion": kernel},
    )


def outcome(rule_id: str, facts: HostFacts) -> Outcome:
    return REGISTRY[rule_id].check(facts).outcome


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        ("6.1.0", Outcome.PASS),
        ("5.10.101", Outcome.FAIL),  # Dirty Pipe, before the 5.10 fix
        ("5.10.102", Outcome.PASS),
        ("5.12.3", Outcome.FAIL),  # an affected line that never got the fix
        ("5.4.200", Outcome.PASS),  # before Dirty Pipe was introduced, after Dirty COW
        ("4.4.10", Outcome.FAIL),  # Dirty COW
        ("5.10.0-18-amd64", Outcome.UNKNOWN),  # Debian: backports under an old number
        ("6.18.44-fc-v657", Outcome.PASS),
        ("garbage", Outcome.UNKNOWN),
    ],
)
def test_kernel(kernel: str, expected: Outcome) -> None:
    assert outcome("DMN-KERNEL-VERSION", host(kernel=kernel)) is expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.7.13", Outcome.PASS),
        ("1.7.12", Outcome.FAIL),
        ("1.6.28", Outcome.PASS),
        ("1.6.20~ds1", Outcome.UNKNOWN),
        ("2.0.0", Outcome.PASS),
        ("1.5.0", Outcome.FAIL),
    ],
)
def test_containerd(version: str, expected: Outcome) -> None:
    assert outcome("DMN-CONTAINERD-VERSION", host(containerd=version)) is expected


def test_operator_override_without_a_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "versions.json"
    table.write_text(json.dumps({"containerd": {"fixed": "1.7.20"}}))
    monkeypatch.setenv("POSTURE_MIN_VERSIONS", str(table))
    assert outcome("DMN-CONTAINERD-VERSION", host(containerd="1.7.13")) is Outcome.FAIL
    # Keys the override leaves out keep the shipped values.
    assert outcome("DMN-KERNEL-VERSION", host(kernel="5.10.101")) is Outcome.FAIL
    table.write_text("not json")
    assert outcome("DMN-CONTAINERD-VERSION", host(containerd="1.7.13")) is Outcome.PASS


def test_below_fixed_lines() -> None:
    entry = {"fixed_per_line": {"24": "24.0.9", "25": "25.0.2"}}
    assert below_fixed(release("23.0.1"), entry) is True
    assert below_fixed(release("24.0.8"), entry) is True
    assert below_fixed(release("25.0.2"), entry) is False
    assert below_fixed(release("27.1.0"), entry) is False
