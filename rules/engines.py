"""Which engine answered the Engine API, and whether it runs rootless (OWASP cheat sheet rule 11).

Podman serves Docker's Engine API through `podman system service`, so its hosts are scanned
like Docker's; but several daemon fields mean something else there (Podman hard-codes
ExperimentalBuild true and LiveRestoreEnabled false, has no authorization plugins, and
reports its own version in Version). Rules that depend on the engine ask these helpers
rather than reading the fields themselves. Pure functions over HostFacts; no rules here.

Fields read (samples in tests/system/engines/data):
  /version Components[].Name   "Engine" on Docker, "Podman Engine" on Podman
  /version Components[].Version, Details  the OCI runtime Podman reports ("OCI Runtime (runc)")
  /info BuildahVersion         Podman only
  /info Rootless               Podman only: true when the service runs rootless
  /info SecurityOptions        "name=rootless" on rootless Docker (and on newer Podman)
  /info CgroupDriver           "none" when a rootless daemon has no cgroups to limit with
  NetworkSettings.Networks     "podman" for Podman's default network ("bridge" in GET /networks)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from rules.base import Cause, Outcome, Result, dig
from rules.facts import HostFacts
from rules.fields import daemon_security_options, once

EngineKind = Literal["docker", "podman", "unknown"]

PODMAN_COMPONENT = "podman engine"
DOCKER_COMPONENT = "engine"
# Podman names its runtime component after the runtime: "OCI Runtime (runc)", "(crun)".
RUNTIME_COMPONENT = re.compile(r"^oci runtime \((?P<name>[^)]+)\)$", re.I)
# Its Version is the runtime's own `--version` output: "runc version 1.1.5+ds1\ncommit: ...".
RUNTIME_VERSION = re.compile(r"\bversion\s+(?P<version>\S+)", re.I)
RUNTIME_COMMIT = re.compile(r"^commit:\s*(?P<commit>\S+)", re.I | re.M)
# The name containers see for the default network (containers.conf default_network); the
# compat GET /networks calls the same network "bridge".
PODMAN_DEFAULT_NETWORK = "podman"
DOCKER_DEFAULT_NETWORK = "bridge"


def _component_names(facts: HostFacts) -> set[str]:
    components = facts.version.get("Components")
    if not isinstance(components, list):
        return set()
    return {str(c.get("Name", "")).strip().lower() for c in components if isinstance(c, dict)}


def engine_kind(facts: HostFacts) -> EngineKind:
    """ "podman" for Podman's compat API, "docker" for dockerd, "unknown" when unclear."""
    # Asked by several rules for every container: worked out once per evaluation.
    return once("engine_kind", facts, lambda: _engine_kind(facts))


def _engine_kind(facts: HostFacts) -> EngineKind:
    names = _component_names(facts)
    if PODMAN_COMPONENT in names:
        return "podman"
    # Podman's compat /info adds fields dockerd never sends.
    buildah = facts.info.get("BuildahVersion")
    if isinstance(buildah, str) and buildah:
        return "podman"
    if DOCKER_COMPONENT in names:
        return "docker"
    # Docker before 17.06 sent no Components; dockerd's /info always names a ServerVersion.
    if not names and isinstance(facts.info.get("ServerVersion"), str):
        return "docker"
    return "unknown"


def is_podman(facts: HostFacts) -> bool:
    return engine_kind(facts) == "podman"


def is_rootless(facts: HostFacts) -> bool | None:
    """Whether the engine runs rootless; None when the daemon did not say.

    Podman's own boolean wins where present: Podman 4.3 leaves "name=rootless" out of
    SecurityOptions even when rootless (later releases add it), so SecurityOptions alone
    would call every rootless Podman 4.x rootful.
    """
    rootless = facts.info.get("Rootless")
    if isinstance(rootless, bool):
        return rootless
    parsed = daemon_security_options(facts.info)
    if isinstance(parsed, Result):
        return None
    return "rootless" in parsed


def rootless_source(facts: HostFacts) -> tuple[str, Any]:
    """The /info field is_rootless decided from, and its value, for evidence."""
    rootless = facts.info.get("Rootless")
    if isinstance(rootless, bool):
        return "Rootless", rootless
    return "SecurityOptions", dig(facts.info, "SecurityOptions")


def default_network(facts: HostFacts | None) -> str:
    """The default network's name in a container's NetworkSettings.Networks."""
    if facts is not None and is_podman(facts):
        return PODMAN_DEFAULT_NETWORK
    return DOCKER_DEFAULT_NETWORK


def resource_limits_enforced(facts: HostFacts) -> bool | None:
    """False when the daemon cannot apply cgroup limits at all; None when it did not say.

    Rootless dockerd without cgroup v2 and systemd reports CgroupDriver "none" and accepts
    --memory, --cpus and --pids-limit, records them in HostConfig, and applies none of them.
    (Rootless Podman in the same situation drops them at create time, so its HostConfig
    already shows no limit.)
    """
    driver = facts.info.get("CgroupDriver")
    if not isinstance(driver, str) or not driver:
        return None
    return driver.lower() != "none"


@dataclass(frozen=True)
class Runtime:
    name: str  # "runc", "crun", ...
    version: str  # "1.1.5+ds1"
    commit: str  # "1.1.5+ds1-1+deb12u1" (distribution builds put their package version here)
    field: str  # where it was read, for evidence


def podman_runtime(facts: HostFacts) -> Runtime | None:
    """The OCI runtime Podman reports in /version, or None (Docker reports runc differently)."""
    components = facts.version.get("Components")
    if not isinstance(components, list):
        return None
    for component in components:
        if not isinstance(component, dict):
            continue
        match = RUNTIME_COMPONENT.match(str(component.get("Name", "")).strip())
        text = component.get("Version")
        if not match or not isinstance(text, str):
            continue
        version = RUNTIME_VERSION.search(text)
        commit = RUNTIME_COMMIT.search(text)
        return Runtime(
            name=match.group("name").lower(),
            version=version.group("version") if version else "",
            commit=commit.group("commit") if commit else "",
            field=f"Components[{component.get('Name')}].Version",
        )
    return None


def podman_version(facts: HostFacts) -> str | None:
    """Podman's release ("4.3.1") from /version, or None on another engine."""
    if not is_podman(facts):
        return None
    version = facts.version.get("Version")
    if isinstance(version, str) and version:
        return version
    server = dig(facts.info, "ServerVersion", None)
    return server if isinstance(server, str) and server else None


def not_supported(feature: str, engine: str = "Podman") -> Result:
    """Not applicable because the engine has no such feature, e.g. live-restore on Podman."""
    return Result(
        Outcome.NOT_APPLICABLE,
        reason=f"{engine} has no {feature}: not supported by this engine",
        cause=Cause.NOT_SUPPORTED,
    )
