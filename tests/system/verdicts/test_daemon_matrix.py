"""Daemon rules against real dockerds started with different flags.

GIVEN one small lab dockerd per configuration (started in parallel, ~1 s together)
WHEN each is collected over its unix socket and the daemon rules run
THEN each (daemon, rule) pair has the outcome written in EXPECTED.

What the lab cannot show, and is covered by the pure-rule tests in tests/rules instead:
- --icc=false: dockerd refuses it without iptables, and the lab never touches the host's
  firewall (--iptables=false, --bridge=none): DMN-ICC is not applicable on every lab daemon,
  which has no default bridge at all.
- --seccomp-profile=unconfined: dockerd 20.10 reads the value as a file name (the keyword came
  with Engine 23), so the lab passes an allow-everything profile file instead, which /info
  shows as a path: a custom profile whose content the API does not show.
- an authorization plugin: none is installed, and absence is the default, so every daemon
  here fails DMN-AUTHZ.
- --selinux-enabled: the lab kernel has no SELinux, so dockerd would refuse to start.
- --log-level=debug without --debug: /info reports only --debug, so DMN-DEBUG cannot see it
  (asserted below as the documented blind spot).
- --no-new-privileges: Engines before 25 do not report it in /info (moby PR 45320).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from hosts.credentials import Credentials
from hosts.endpoints import parse_endpoint
from lab.daemon import LabDaemon
from lab.process import lab_root
from rules import REGISTRY, Outcome, Scope, evaluate
from rules.base import Source
from rules.engine import Evaluation
from scans.collect import collect
from scans.transports import Limits, open_api

pytestmark = pytest.mark.docker

PASS, FAIL = Outcome.PASS, Outcome.FAIL
NA, UNKNOWN, MANUAL = Outcome.NOT_APPLICABLE, Outcome.UNKNOWN, Outcome.MANUAL
LIMITS = Limits(deadline=30, connect_timeout=5, read_timeout=10, pool_size=2)
# An allow-everything seccomp profile: what "unconfined" means, spelled as a file.
ALLOW_ALL_PROFILE = {"defaultAction": "SCMP_ACT_ALLOW"}
SECCOMP_PROFILE = lab_root("flags-seccomp") / "allow-all.json"

FLAGS: dict[str, list[str]] = {
    "flags-default": [],
    "flags-userns": ["--userns-remap=default"],
    "flags-live": ["--live-restore"],
    "flags-debug": ["--debug"],
    "flags-loglevel": ["--log-level=debug"],
    "flags-seccomp": [f"--seccomp-profile={SECCOMP_PROFILE}"],
    "flags-nnp": ["--no-new-privileges"],
    "flags-exp": ["--experimental"],
    "flags-insecure": ["--insecure-registry=10.1.2.0/24"],
    # Nothing listens there: dockerd only validates the option, containers would not start.
    "flags-syslog": ["--log-driver=syslog", "--log-opt=syslog-address=udp://127.0.0.1:5514"],
}
# Version rules read the installed dockerd and runc, not the flags: asserted equal across
# daemons, not per flag.
VERSION_RULES = {
    "DMN-ENGINE-VERSION",
    "DMN-RUNC-VERSION",
    "DMN-CONTAINERD-VERSION",
    "DMN-KERNEL-VERSION",
}
# Host rules (Source.SSH) need SSH access, which these daemons are not scanned with.
API_RULES = [r for r in REGISTRY.values() if r.scope is Scope.DAEMON and r.source is Source.API]
DAEMON_RULES = sorted(r.id for r in API_RULES if r.id not in VERSION_RULES)

DEFAULT: dict[str, Outcome] = {
    "DMN-USERNS": FAIL,
    "DMN-ICC": NA,  # --bridge=none: no default bridge to judge
    "DMN-DEBUG": PASS,
    "DMN-LIVE-RESTORE": FAIL,
    "DMN-ROOTLESS": FAIL,
    "DMN-SECCOMP": PASS,
    "DMN-AUTHZ": FAIL,
    "DMN-INSECURE-REGISTRY": PASS,  # loopback is always trusted and does not count
    "DMN-EXPERIMENTAL": PASS,
    "DMN-LOG-DRIVER": FAIL,  # json-file keeps logs on the host
    "DMN-STORAGE-DRIVER": PASS,  # overlay2
    # dockerd 20.10 on the lab machine does not report the daemon-wide default (Engine 25
    # does), so even flags-nnp is not assessable through the API.
    "DMN-NO-NEW-PRIVILEGES-API": UNKNOWN,
    "DMN-SWARM-MODE": PASS,
    "DMN-SWARM-MANAGERS": NA,
    "DMN-SWARM-OVERLAY-ENCRYPTION": NA,
    "DMN-SWARM-AUTOLOCK": NA,
    # Not recorded by any daemon: asked of a person once per host.
    "DMN-IMAGE-SIGNATURES": MANUAL,
    "DMN-IMAGE-SCANNING": MANUAL,
    "DMN-TRUSTED-BASE-IMAGES": MANUAL,
}


def differs(**changes: Outcome) -> dict[str, Outcome]:
    out = dict(DEFAULT)
    for key, outcome in changes.items():
        rule_id = key.replace("_", "-")
        assert rule_id in out, f"unknown rule {rule_id}"
        out[rule_id] = outcome
    return out


EXPECTED: dict[str, dict[str, Outcome]] = {
    "flags-default": DEFAULT,
    "flags-userns": differs(DMN_USERNS=PASS),
    "flags-live": differs(DMN_LIVE_RESTORE=PASS),
    "flags-debug": differs(DMN_DEBUG=FAIL),
    # The blind spot: the daemon logs at debug level, but /info only reports --debug.
    "flags-loglevel": DEFAULT,
    # A custom profile: applied (CIS 2.17), but whether it filters anything is for a person
    # (or the host rules over SSH) to read.
    "flags-seccomp": differs(DMN_SECCOMP=MANUAL),
    "flags-nnp": DEFAULT,
    "flags-exp": differs(DMN_EXPERIMENTAL=FAIL),
    "flags-insecure": differs(DMN_INSECURE_REGISTRY=FAIL),
    "flags-syslog": differs(DMN_LOG_DRIVER=PASS),
}


@pytest.fixture(scope="module")
def flag_daemons() -> Iterator[dict[str, LabDaemon]]:
    SECCOMP_PROFILE.parent.mkdir(parents=True, exist_ok=True)
    SECCOMP_PROFILE.write_text(json.dumps(ALLOW_ALL_PROFILE))
    daemons = {name: LabDaemon(name, extra_args=args) for name, args in FLAGS.items()}
    with ThreadPoolExecutor(len(daemons)) as pool:
        list(pool.map(LabDaemon.start, daemons.values()))
    try:
        yield daemons
    finally:
        # As lab.process.running: adopted daemons and POSTURE_LAB_KEEP=1 stay up.
        if os.environ.get("POSTURE_LAB_KEEP", "") not in ("1", "true"):
            ours = [d for d in daemons.values() if not d.reused]
            with ThreadPoolExecutor(max(1, len(ours))) as pool:
                list(pool.map(LabDaemon.stop, ours))


@pytest.fixture(scope="module")
def daemon_verdicts(flag_daemons: dict[str, LabDaemon]) -> dict[str, dict[str, Evaluation]]:
    rules = API_RULES

    def scan(daemon: LabDaemon) -> dict[str, Evaluation]:
        with open_api(parse_endpoint(daemon.unix_url), Credentials(), LIMITS) as api:
            facts = collect(api)
        return {e.rule.id: e for e in evaluate(facts, rules)}

    with ThreadPoolExecutor(len(flag_daemons)) as pool:
        scanned = pool.map(scan, flag_daemons.values())
        return dict(zip(flag_daemons, scanned, strict=True))


def test_the_table_covers_every_daemon_rule() -> None:
    assert set(EXPECTED) == set(FLAGS)
    for name, row in EXPECTED.items():
        assert sorted(row) == DAEMON_RULES, name


@pytest.mark.parametrize("daemon", sorted(EXPECTED))
def test_daemon_verdicts(daemon: str, daemon_verdicts: dict[str, dict[str, Evaluation]]) -> None:
    actual = daemon_verdicts[daemon]
    wrong = {
        rule: f"expected {outcome.value}, got {actual[rule].outcome.value}: "
        f"{'; '.join(map(str, actual[rule].result.evidence)) or actual[rule].result.reason}"
        for rule, outcome in EXPECTED[daemon].items()
        if actual[rule].outcome is not outcome
    }
    assert not wrong, wrong


def test_version_rules_do_not_depend_on_flags(
    daemon_verdicts: dict[str, dict[str, Evaluation]],
) -> None:
    for rule in VERSION_RULES:
        outcomes = {row[rule].outcome for row in daemon_verdicts.values()}
        assert len(outcomes) == 1, (rule, outcomes)


def test_failures_carry_evidence_and_gaps_a_reason(
    daemon_verdicts: dict[str, dict[str, Evaluation]],
) -> None:
    for daemon, row in daemon_verdicts.items():
        for rule, evaluation in row.items():
            result = evaluation.result
            if result.outcome is FAIL:
                assert result.evidence, (daemon, rule)
            elif result.outcome is not PASS:
                assert result.reason, (daemon, rule)
