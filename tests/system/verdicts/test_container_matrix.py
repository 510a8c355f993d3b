"""The labelled lab: every container rule's verdict on every sample container, on a real
daemon, reached through the product's own collector.

GIVEN the lab samples (lab.samples: one container per misconfiguration, plus
lab-hardened) on the session's lab dockerd
WHEN the host is collected over its unix socket (scans.transports + scans.collect) and every
rule runs (rules.evaluate)
THEN each (sample, rule) pair has exactly the outcome written in EXPECTED below.

EXPECTED is built from two baselines a reader can check by eye: DEFAULT, what a container
created with `docker run IMAGE sleep 3600` and nothing else gets, and HARDENED, what
lab-hardened gets. Each sample then lists only where it differs from its baseline.
"""

from __future__ import annotations

from typing import Any

import docker
import pytest

from hosts.credentials import Credentials
from hosts.endpoints import parse_endpoint
from lab.daemon import LabDaemon
from lab.samples import FAKE_API_TOKEN, FAKE_AWS_SECRET
from rules import REGISTRY, Outcome, Scope, evaluate
from rules.engine import Evaluation
from scans.collect import collect
from scans.transports import Limits, open_api

pytestmark = pytest.mark.docker

PASS, FAIL = Outcome.PASS, Outcome.FAIL
NA, UNKNOWN, MANUAL = Outcome.NOT_APPLICABLE, Outcome.UNKNOWN, Outcome.MANUAL
LIMITS = Limits(deadline=30, connect_timeout=5, read_timeout=10, pool_size=4)
# Judged from the images' inventories and vulnerability data, which this matrix does not
# load (collect + evaluate only): tests/vulns/test_scan_vulnerabilities.py covers them.
VULNERABILITY_RULES = {"CTR-VULN-KEV", "CTR-VULN-CRITICAL"}
CONTAINER_RULES = sorted(
    r.id
    for r in REGISTRY.values()
    if r.scope is Scope.CONTAINER and r.id not in VULNERABILITY_RULES
)

# The lab daemon does not remap user namespaces, so the per-container opt-out has nothing to
# opt out of (DMN-USERNS reports the daemon itself). AppArmor is handled apart: see
# apparmor_expected().
DEFAULT: dict[str, Outcome] = {
    "CTR-PRIVILEGED": PASS,
    "CTR-USER": FAIL,  # the lab image has no USER: root
    "CTR-CAP-ADD": PASS,
    "CTR-CAP-DROP": FAIL,
    "CTR-NO-NEW-PRIVILEGES": FAIL,
    "CTR-SECCOMP": PASS,  # the daemon's default profile applies
    "CTR-DOCKER-SOCKET": PASS,
    "CTR-HOST-PATH": PASS,
    "CTR-HOST-PATH-RW": PASS,
    "CTR-BIND-RW": PASS,
    "CTR-DEVICES": PASS,
    "CTR-READONLY-ROOTFS": FAIL,
    "CTR-HOST-NETWORK": PASS,  # the lab runs every sample with --network none
    "CTR-HOST-PID": PASS,
    "CTR-HOST-IPC": PASS,
    "CTR-HOST-UTS": PASS,
    "CTR-HOST-USERNS": NA,
    "CTR-MEMORY-LIMIT": FAIL,
    "CTR-CPU-LIMIT": FAIL,
    "CTR-PIDS-LIMIT": FAIL,
    "CTR-RESTART-POLICY": PASS,  # "no" is bounded
    # Ports and networks: --network none publishes nothing and is not the default bridge.
    "CTR-PRIVILEGED-PORTS": PASS,
    "CTR-PORT-ALL-INTERFACES": PASS,
    "CTR-PUBLISH-ALL": PASS,
    "CTR-DEFAULT-BRIDGE": PASS,
    "CTR-MOUNT-PROPAGATION": PASS,
    "CTR-CGROUP-PARENT": PASS,
    "CTR-HEALTHCHECK": FAIL,  # the lab image has no HEALTHCHECK
    "CTR-SELINUX": NA,  # the lab kernel has no SELinux
    "CTR-IMAGE-NOT-PINNED": FAIL,  # created from the tag posture-lab/busybox:1
    "CTR-IMAGE-LATEST": PASS,  # ... which is not latest
    "CTR-SECRETS": PASS,
}
HARDENED: dict[str, Outcome] = {
    **dict.fromkeys(DEFAULT, PASS),  # including the image pinned by id and a health check
    "CTR-HOST-USERNS": NA,
    "CTR-SELINUX": NA,
}


def differs(base: dict[str, Outcome], **changes: Outcome) -> dict[str, Outcome]:
    """`base` with rule outcomes changed; keyword names use _ for - (CTR_USER=...)."""
    out = dict(base)
    for key, outcome in changes.items():
        rule_id = key.replace("_", "-")
        assert rule_id in out, f"unknown rule {rule_id}"
        out[rule_id] = outcome
    return out


EXPECTED: dict[str, dict[str, Outcome]] = {
    # Created, never started (see lab.samples): the verdicts come from inspect alone.
    # --privileged implies every capability, every device and no seccomp profile.
    "lab-privileged": differs(
        DEFAULT,
        CTR_PRIVILEGED=FAIL,
        CTR_CAP_ADD=FAIL,
        CTR_DEVICES=FAIL,
        CTR_SECCOMP=FAIL,
    ),
    "lab-docker-sock": differs(DEFAULT, CTR_DOCKER_SOCKET=FAIL, CTR_BIND_RW=FAIL),
    "lab-root-user": DEFAULT,  # USER root explicitly: the same verdict as the implicit root
    "lab-cap-add": differs(DEFAULT, CTR_CAP_ADD=FAIL),
    "lab-seccomp-unconfined": differs(DEFAULT, CTR_SECCOMP=FAIL),
    "lab-pid-host": differs(DEFAULT, CTR_HOST_PID=FAIL),
    "lab-ipc-host": differs(DEFAULT, CTR_HOST_IPC=FAIL),
    "lab-uts-host": differs(DEFAULT, CTR_HOST_UTS=FAIL),
    # Docker gives --network host containers their own UTS namespace (checked in /proc on
    # the lab machine), so only the network rule fails.
    # Nothing is published from the host's own network namespace: the port rules stand aside.
    "lab-host-network": differs(
        DEFAULT, CTR_HOST_NETWORK=FAIL, CTR_PRIVILEGED_PORTS=NA, CTR_PORT_ALL_INTERFACES=NA
    ),
    "lab-unlimited": DEFAULT,
    "lab-host-etc": differs(DEFAULT, CTR_HOST_PATH=FAIL, CTR_HOST_PATH_RW=FAIL, CTR_BIND_RW=FAIL),
    "lab-device": differs(DEFAULT, CTR_DEVICES=FAIL),
    "lab-restart-always": differs(DEFAULT, CTR_RESTART_POLICY=FAIL),
    "lab-env-secret": differs(DEFAULT, CTR_SECRETS=FAIL),
    # Hardened minus one.
    "lab-default-caps": differs(HARDENED, CTR_CAP_DROP=FAIL),
    "lab-no-nnp": differs(HARDENED, CTR_NO_NEW_PRIVILEGES=FAIL),
    "lab-rw-rootfs": differs(HARDENED, CTR_READONLY_ROOTFS=FAIL),
    "lab-no-limits": differs(
        HARDENED, CTR_MEMORY_LIMIT=FAIL, CTR_CPU_LIMIT=FAIL, CTR_PIDS_LIMIT=FAIL
    ),
    "lab-no-healthcheck": differs(HARDENED, CTR_HEALTHCHECK=FAIL),
    "lab-secret-label": differs(HARDENED, CTR_SECRETS=FAIL),
    "lab-hardened": HARDENED,
}

# Where a host kernel has AppArmor, dockerd records docker-default on every started container;
# the lab VM has none, so the rule does not apply there.
APPARMOR_WHEN_ENABLED = dict.fromkeys(EXPECTED, PASS) | {"lab-privileged": FAIL}
# Rules lab-hardened cannot pass on the lab daemon, and why: nothing else may be missing.
HARDENED_NA_REASONS = {
    "CTR-HOST-USERNS": "the lab daemon does not remap user namespaces",
    "CTR-APPARMOR": "the lab machine's kernel has no AppArmor (only when that is so)",
    "CTR-SELINUX": "the lab machine's kernel has no SELinux",
}


def apparmor_expected(info: dict[str, Any], sample: str) -> Outcome:
    options = info.get("SecurityOptions") or []
    if not any(str(o).startswith("name=apparmor") for o in options):
        return NA
    return APPARMOR_WHEN_ENABLED[sample]


@pytest.fixture(scope="module")
def lab_scan(
    lab_daemon: LabDaemon, lab_samples: dict[str, str]
) -> tuple[dict[str, Any], dict[str, dict[str, Evaluation]]]:
    with open_api(parse_endpoint(lab_daemon.unix_url), Credentials(), LIMITS) as api:
        facts = collect(api)
    names = {cid: name for name, cid in lab_samples.items()}
    verdicts: dict[str, dict[str, Evaluation]] = {}
    for evaluation in evaluate(facts):
        if evaluation.rule.id in VULNERABILITY_RULES:
            continue
        if evaluation.subject_kind is Scope.CONTAINER and evaluation.subject_key in names:
            verdicts.setdefault(names[evaluation.subject_key], {})[evaluation.rule.id] = evaluation
    return facts.info, verdicts


def test_the_table_covers_every_sample_and_every_container_rule(
    lab_samples: dict[str, str],
) -> None:
    assert set(EXPECTED) == set(lab_samples)
    for sample, row in EXPECTED.items():
        assert sorted({*row, "CTR-APPARMOR"}) == CONTAINER_RULES, sample


@pytest.mark.parametrize("sample", sorted(EXPECTED))
def test_sample_verdicts(
    sample: str, lab_scan: tuple[dict[str, Any], dict[str, dict[str, Evaluation]]]
) -> None:
    info, verdicts = lab_scan
    expected = {**EXPECTED[sample], "CTR-APPARMOR": apparmor_expected(info, sample)}
    actual = verdicts[sample]
    wrong = {
        rule: f"expected {outcome.value}, got {actual[rule].outcome.value}: "
        f"{'; '.join(map(str, actual[rule].result.evidence)) or actual[rule].result.reason}"
        for rule, outcome in expected.items()
        if actual[rule].outcome is not outcome
    }
    assert not wrong, wrong


def test_every_failure_shows_field_and_value_and_every_gap_a_reason(
    lab_scan: tuple[dict[str, Any], dict[str, dict[str, Evaluation]]],
) -> None:
    _, verdicts = lab_scan
    for sample, row in verdicts.items():
        for rule, evaluation in row.items():
            result = evaluation.result
            if result.outcome is FAIL:
                assert result.evidence, (sample, rule)
                assert all(e.field and e.value for e in result.evidence), (sample, rule)
            elif result.outcome in (NA, UNKNOWN, MANUAL):
                assert result.reason, (sample, rule)


def test_secret_evidence_never_shows_the_value(
    lab_scan: tuple[dict[str, Any], dict[str, dict[str, Evaluation]]],
) -> None:
    _, verdicts = lab_scan
    env = verdicts["lab-env-secret"]["CTR-SECRETS"].result
    label = verdicts["lab-secret-label"]["CTR-SECRETS"].result
    assert [e.field for e in env.evidence] == ["Config.Env[AWS_SECRET_ACCESS_KEY]"]
    assert [e.field for e in label.evidence] == ["Config.Labels[com.example.deploy.api-token]"]
    assert FAKE_AWS_SECRET not in str(env) and FAKE_API_TOKEN not in str(label)


def test_hardened_passes_every_container_rule(
    lab_scan: tuple[dict[str, Any], dict[str, dict[str, Evaluation]]],
) -> None:
    _, verdicts = lab_scan
    not_passed = {
        rule: evaluation.outcome
        for rule, evaluation in verdicts["lab-hardened"].items()
        if evaluation.outcome is not PASS
    }
    assert set(not_passed) <= set(HARDENED_NA_REASONS), not_passed
    assert all(outcome is NA for outcome in not_passed.values()), not_passed


def test_privileged_sample_was_judged_without_running(
    lab_client: docker.APIClient, lab_samples: dict[str, str]
) -> None:
    state = lab_client.inspect_container(lab_samples["lab-privileged"])["State"]
    assert state["Status"] == "created"
