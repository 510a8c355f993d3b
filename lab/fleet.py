"""A fleet of real dockerds on one machine, each on its own loopback address.

Every member is a LabDaemon under <root>/h<N> reached at 127.0.0.N, either over TCP with
mutual TLS (a CA of its own, its server certificate naming 127.0.0.N) or through an sshd of
its own on 127.0.0.N with a pinned host key, and holds a small container population of its
own. Two members are broken on purpose, as a real fleet always has some: "stopped" is
registered with certificates but its daemon never runs (nothing listens: unreachable), and
"rogue-cert" serves a certificate from a CA its host record does not trust (TLS
verification fails).

Start is idempotent like every lab service: daemons, sshds and populations an earlier run
left behind are adopted (their state files live under the member directories, so a
SIGKILLed test run leaves nothing the next one cannot pick up), and members start in
parallel, because a cold dockerd spends most of its start waiting on containerd.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import docker
import docker.errors

from lab.daemon import LabDaemon
from lab.images import DEFAULT_TAG, import_image
from lab.pki import Pki, make_pki, make_rogue_pki
from lab.process import (
    LabError,
    free_port,
    lab_root,
    locked,
    loopback_host,
    read_state,
    write_state,
)
from lab.samples import COMMAND, Sample, create_sample, sample_specs
from lab.sshd import LabSshd

Transport = Literal["tls", "ssh"]
Fault = Literal["", "stopped", "rogue-cert"]

# Marks the containers the fleet manages and carries the digest of their specification,
# so that a changed population is recreated while an unchanged one is kept (stable ids).
FLEET_LABEL = "posture.lab.fleet"
# A cold dockerd answers in ~1-2 s alone; ten of them starting together on two cores
# queue behind each other's containerd.
_START_TIMEOUT = 90.0


@dataclass(frozen=True)
class Member:
    """What one fleet host is: its address, how it is reached, what runs on it."""

    name: str
    octet: int
    transport: Transport
    # Names from lab.samples.sample_specs, or (name, new_name) to run a sample twice.
    samples: tuple[str | tuple[str, str], ...] = ()
    fault: Fault = ""
    daemon_args: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        return loopback_host(f"127.0.0.{self.octet}")

    @property
    def directory(self) -> str:
        return f"h{self.octet}"


# One misconfiguration theme per host, two containers at most: the fleet runs ~15 sleeping
# containers in all, cheap enough for two cores. 127.0.0.11-21 are all in 127/8 (lo).
DEFAULT_MEMBERS: tuple[Member, ...] = (
    Member(
        "hardened",
        11,
        "tls",
        ("lab-hardened", ("lab-hardened", "lab-hardened-api")),
        # Daemon-level hardening too (CIS 2.15), so its score rests on more than containers.
        daemon_args=("--live-restore",),
    ),
    Member("privileged", 12, "tls", ("lab-privileged", "lab-cap-add")),
    Member("docker-sock", 13, "ssh", ("lab-docker-sock",)),
    Member("empty", 14, "tls"),
    Member("host-ns", 15, "ssh", ("lab-host-network", "lab-pid-host")),
    Member("secrets", 16, "tls", ("lab-env-secret", "lab-secret-label")),
    Member("defaults", 17, "ssh", ("lab-unlimited", "lab-root-user")),
    Member("mounts", 18, "tls", ("lab-host-etc", "lab-device")),
    Member("seccomp", 19, "ssh", ("lab-seccomp-unconfined", "lab-no-nnp")),
    Member("rogue-cert", 20, "tls", fault="rogue-cert"),
    Member("stopped", 21, "tls", fault="stopped"),
)


@dataclass(frozen=True)
class FleetHost:
    """How Posture reaches one member: the endpoint and credentials of its host record."""

    name: str
    member: Member
    endpoint: str
    running: bool
    ca_cert: str = ""
    client_cert: str = ""
    client_key: str = field(default="", repr=False)
    ssh_private_key: str = field(default="", repr=False)
    ssh_host_key: str = ""
    # Container name -> id, as created on the member's daemon.
    containers: Mapping[str, str] = field(default_factory=dict)


class LabFleet:
    """Several LabDaemons (and their sshds) under /tmp/pst-<name>, started and stopped as one.

    `reused` is True only when every part was adopted from an earlier run unchanged: the
    `running()` helper then leaves the fleet to whoever started it.
    """

    def __init__(
        self,
        name: str = "fleet",
        *,
        root: Path | None = None,
        members: Sequence[Member] = DEFAULT_MEMBERS,
        image: str = DEFAULT_TAG,
        start_timeout: float = _START_TIMEOUT,
    ) -> None:
        self.name = name
        self.root = root or lab_root(name)
        self.members = tuple(members)
        self.image = image
        self.start_timeout = start_timeout
        names = [m.name for m in self.members]
        octets = [m.octet for m in self.members]
        if len(set(names)) != len(names) or len(set(octets)) != len(octets):
            raise LabError("fleet members need distinct names and addresses")
        self.reused = False
        self.start_seconds = 0.0
        self.hosts: dict[str, FleetHost] = {}
        self.daemons: dict[str, LabDaemon] = {}
        self.sshds: dict[str, LabSshd] = {}

    @property
    def _state_path(self) -> Path:
        return self.root / "state.json"

    def _member_root(self, member: Member) -> Path:
        return self.root / member.directory

    # Life cycle ---------------------------------------------------------------------------

    def start(self) -> LabFleet:
        """Start (or adopt) every member; fill `hosts` with endpoints and credentials."""
        started = time.monotonic()
        with locked(self.root):
            state = read_state(self._state_path)
            ports: dict[str, int] = dict(state.get("reserved_ports") or {})
            with ThreadPoolExecutor(len(self.members)) as pool:
                results = list(pool.map(lambda m: self._start_member(m, ports), self.members))
            write_state(self._state_path, {"reserved_ports": ports})
        self.hosts = {host.name: host for host, _ in results}
        self.reused = all(reused for _, reused in results)
        self.start_seconds = time.monotonic() - started
        return self

    def _start_member(self, member: Member, ports: dict[str, int]) -> tuple[FleetHost, bool]:
        root = self._member_root(member)
        # Per-host CA: a certificate for one member proves nothing about another.
        pki = make_pki(root / "pki", name=f"posture-fleet-{member.name}", ips=(member.address,))
        served = pki
        if member.fault == "rogue-cert":
            served = make_rogue_pki(root / "rogue", ips=(member.address,))
        tls = served if member.transport == "tls" else None
        port = 0
        if member.fault == "stopped":
            # Kept stable across runs: the host record points here, and nothing else binds
            # this member's address, so the port stays closed.
            port = ports.get(member.name) or free_port(member.address)
            ports[member.name] = port
        daemon = LabDaemon(
            f"fleet-{member.directory}",
            root=root,
            tls=tls,
            tcp_host=member.address,
            tcp_port=port,
            extra_args=member.daemon_args,
            start_timeout=self.start_timeout,
        )
        self.daemons[member.name] = daemon
        if member.fault == "stopped":
            daemon.stop()
            daemon.tcp_port = port
            return self._host(member, daemon, None, pki, {}), True

        daemon.start()
        sshd = None
        if member.transport == "ssh":
            sshd = LabSshd(f"fleet-{member.directory}-ssh", root=root / "ssh", host=member.address)
            sshd.start()
            self.sshds[member.name] = sshd
        with daemon.api_client(timeout=int(self.start_timeout)) as client:
            containers, kept = self._populate(client, member, daemon)
        reused = daemon.reused and (sshd is None or sshd.reused) and kept
        return self._host(member, daemon, sshd, pki, containers), reused

    def _host(
        self,
        member: Member,
        daemon: LabDaemon,
        sshd: LabSshd | None,
        pki: Pki,
        containers: Mapping[str, str],
    ) -> FleetHost:
        name = f"fleet-{member.name}"
        running = member.fault != "stopped"
        if sshd is not None:
            return FleetHost(
                name,
                member,
                f"{sshd.ssh_url}?socket={daemon.socket_path}",
                running,
                ssh_private_key=sshd.client_private_key,
                ssh_host_key=sshd.host_public_key,
                containers=containers,
            )
        # The record always trusts the member's own CA; the rogue member serves another's.
        return FleetHost(
            name,
            member,
            f"tcp://{member.address}:{daemon.tcp_port}",
            running,
            ca_cert=pki.pem("ca_cert"),
            client_cert=pki.pem("client_cert"),
            client_key=pki.pem("client_key"),
            containers=containers,
        )

    def stop(self) -> None:
        """Stop every member's daemon and sshd (adopted or not: this is the explicit stop)."""
        with locked(self.root):
            daemons = [self.daemons.get(m.name) or self._daemon(m) for m in self.members]
            sshds = [
                self.sshds.get(m.name)
                or LabSshd(f"fleet-{m.directory}-ssh", root=self._member_root(m) / "ssh")
                for m in self.members
                if m.transport == "ssh"
            ]
            with ThreadPoolExecutor(len(daemons) + len(sshds)) as pool:
                list(pool.map(lambda service: service.stop(), [*sshds, *daemons]))
        self.hosts = {}

    def _daemon(self, member: Member) -> LabDaemon:
        # Only for stopping: the pidfile and data-root identify the process, not the flags.
        return LabDaemon(f"fleet-{member.directory}", root=self._member_root(member))

    def __enter__(self) -> LabFleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Populations --------------------------------------------------------------------------

    def _populate(
        self, client: docker.APIClient, member: Member, daemon: LabDaemon
    ) -> tuple[dict[str, str], bool]:
        """Make the daemon hold exactly the member's containers; (name -> id, kept as is)."""
        specs = _specs(member, str(daemon.socket_path))
        # Every container, not only those labelled: a member's daemon is the fleet's alone, and
        # one made under another label (an older lab) would hold a sample's name.
        existing = {
            str(container["Names"][0]).lstrip("/"): container
            for container in client.containers(all=True)
        }
        if not specs:
            _remove(client, existing.values())
            return {}, not existing
        image_id = import_image(client, self.image)
        digest = _digest(specs, image_id)
        if set(existing) == {s.name for s in specs} and all(
            (c.get("Labels") or {}).get(FLEET_LABEL) == digest for c in existing.values()
        ):
            # A restarted daemon (no --live-restore on most members) left them stopped.
            for spec in specs:
                if spec.startable and existing[spec.name].get("State") != "running":
                    client.start(existing[spec.name]["Id"])
            return {name: str(c["Id"]) for name, c in existing.items()}, True
        _remove(client, existing.values())
        labels = {FLEET_LABEL: digest}
        created = {
            spec.name: create_sample(client, spec, self.image, image_id, labels) for spec in specs
        }
        return created, False


def _specs(member: Member, docker_socket: str) -> tuple[Sample, ...]:
    catalogue = {sample.name: sample for sample in sample_specs(docker_socket)}
    specs = []
    for entry in member.samples:
        base, name = (entry, entry) if isinstance(entry, str) else entry
        if base not in catalogue:
            raise LabError(f"fleet member {member.name}: no sample named {base!r}")
        specs.append(dataclasses.replace(catalogue[base], name=name))
    return tuple(specs)


def _digest(specs: Sequence[Sample], image_id: str) -> str:
    text = json.dumps(
        [dataclasses.asdict(spec) for spec in specs] + [image_id, COMMAND],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _remove(client: docker.APIClient, containers: Iterable[Mapping[str, Any]]) -> None:
    for container in containers:
        # NotFound: removed meanwhile, e.g. by a parallel cleanup.
        with contextlib.suppress(docker.errors.NotFound):
            client.remove_container(container["Id"], force=True, v=True)
