"""Daemon rules that keep their meaning on Podman, proven on a deliberately lax Podman host.

The lax host replaces containers.conf (seccomp_profile = "unconfined") and registries.conf
(one insecure registry), and its service logs at debug level.
"""

from __future__ import annotations

import pytest

from rules.base import Outcome
from tests.system.engines.lab import INSECURE_REGISTRY, Scan

pytestmark = pytest.mark.docker


def test_debug_logging_fails(lax_podman_scan: Scan, podman_scan: Scan) -> None:
    # Podman's compat /info reports its own log level as Debug.
    assert lax_podman_scan.result("DMN-DEBUG").outcome is Outcome.FAIL
    assert podman_scan.result("DMN-DEBUG").outcome is Outcome.PASS


def test_insecure_registry_from_registries_conf_fails(lax_podman_scan: Scan) -> None:
    """Podman always sends InsecureRegistryCIDRs empty, but lists registries.conf entries in
    IndexConfigs with Secure false, which the rule reads too."""
    result = lax_podman_scan.result("DMN-INSECURE-REGISTRY")
    assert result.outcome is Outcome.FAIL
    assert any(INSECURE_REGISTRY in e.value for e in result.evidence), result


def test_rootful_podman_is_not_credited_as_rootless(podman_scan: Scan) -> None:
    assert podman_scan.result("DMN-ROOTLESS").outcome is Outcome.FAIL


def test_podman_api_hides_a_host_wide_unconfined_seccomp(lax_podman_scan: Scan) -> None:
    """The premise of the DMN-SECCOMP expectation in test_adapted_rules: with
    containers.conf disabling seccomp for every container, Podman's /info still says
    profile=default (compat/info.go hard-codes it), so the API cannot show it."""
    assert lax_podman_scan.facts.info["SecurityOptions"] == ["name=seccomp,profile=default"]
