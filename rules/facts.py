"""Collected facts about one host, as the rules see them.

The collector (scans.collect) builds these from Engine API responses after redaction:
environment variable values never reach this layer, only names and a redacted form.
Dicts keep the daemon's own field names so evidence reads like `docker inspect`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

_LAYER_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def layers_key(inspect: dict[str, Any]) -> str:
    """The identity of an image's content: a hash of its ordered layer digests
    (RootFS.Layers). Not the image id, which under the containerd image store is the
    manifest's digest and changes with a retag across registries while the files do not:
    inventories are read once per key, whatever the hosts, ids and tags. "" when the daemon
    gave no usable layer list."""
    rootfs = inspect.get("RootFS")
    layers = rootfs.get("Layers") if isinstance(rootfs, dict) else None
    if not isinstance(layers, list) or not layers:
        return ""
    if not all(isinstance(layer, str) and _LAYER_DIGEST.match(layer) for layer in layers):
        return ""
    return hashlib.sha256("\n".join(layers).encode()).hexdigest()


@dataclass
class ImageFacts:
    id: str
    inspect: dict[str, Any]
    history: list[dict[str, Any]] | None = None  # None when history could not be read
    # Set by HostFacts.link(); out of repr and comparisons, which would loop through it.
    host: HostFacts | None = field(default=None, repr=False, compare=False)
    # Its known vulnerabilities (vulns.summary); None when image scanning did not run.
    vulns: ImageVulns | None = field(default=None, repr=False, compare=False)
    # Its setuid/setgid regular files (path, mode, uid, gid), from the headers of all its
    # layers (a deep read); None when they were not read, `modes_reason` saying why.
    special_files: tuple[tuple[str, int, int, int], ...] | None = field(
        default=None, repr=False, compare=False
    )
    modes_reason: str = field(default="", repr=False, compare=False)

    @property
    def layers_key(self) -> str:
        return layers_key(self.inspect)

    @property
    def name(self) -> str:
        tags = self.inspect.get("RepoTags")
        # A daemon may send any JSON here; only a non-empty list has a first tag.
        return str(tags[0]) if isinstance(tags, list) and tags else self.id[:19]


@dataclass(frozen=True)
class VulnRef:
    """One known vulnerability of an image's package, as the vulnerability rules read it."""

    id: str  # the CVE when known, else the advisory id
    package: str
    installed: str
    fixed: str  # "" when no fixed version exists yet
    severity: int  # vulndb.records.VulnSeverity: 0 unknown .. 4 critical
    kev: bool = False
    epss: float | None = None


@dataclass(frozen=True)
class ImageVulns:
    """What Posture knows of an image's packages and their vulnerabilities.

    assessed False with a reason (no data, no container to read from, scanning off, the
    package database could not be read): the vulnerability rules then say "not assessed"
    with that reason, never "no vulnerabilities"."""

    assessed: bool
    reason: str = ""
    os_id: str = ""
    os_version: str = ""
    os_name: str = ""
    packages: int = 0
    # Open vulnerabilities: those triaged away (not affected, accepted, false positive) are
    # left out, as accepted risk exceptions are.
    vulnerabilities: tuple[VulnRef, ...] = ()


@dataclass
class ContainerFacts:
    id: str
    inspect: dict[str, Any]
    image: ImageFacts | None = None
    host: HostFacts | None = None

    @property
    def name(self) -> str:
        return str(self.inspect.get("Name") or self.id[:12]).lstrip("/")


@dataclass(frozen=True)
class FileStat:
    path: str
    exists: bool
    kind: str = ""  # file, directory, socket, symlink, ...
    owner: str = ""  # user name (or uid when it has no name)
    group: str = ""
    mode: int = 0  # permission bits, e.g. 0o644


@dataclass
class HostAccess:
    """What Posture saw of the host itself (CIS sections 1 and 3): over SSH, or read on
    the worker's own machine when the scanned daemon runs there. Absent otherwise."""

    files: dict[str, FileStat] = field(default_factory=dict)  # stat of the paths of interest
    texts: dict[str, str] = field(default_factory=dict)  # small config files' contents
    commands: dict[str, str] = field(default_factory=dict)  # read-only commands' output
    denied: set[str] = field(default_factory=set)  # paths or commands that were refused
    via: str = "ssh"  # "ssh", or "local": read on the machine the worker runs on


@dataclass(frozen=True)
class HostPackage:
    """One installed package behind a component (engine, containerd, runc, kernel)."""

    name: str  # binary package: docker.io, containerd, runc, linux-image-6.1.0-18-amd64
    version: str
    source: str  # the source package the advisories name: docker.io, linux
    source_version: str
    # Open advisories of the distribution that affect this build (fixed above it, or not yet).
    advisories: tuple[VulnRef, ...] = ()


@dataclass(frozen=True)
class HostPackages:
    """What the host's own package database says of the container stack.

    `ecosystem` is the OSV name of the host's release ("Debian:12"); `data` whether the
    distribution's advisories for it are imported; `components` maps engine, containerd,
    runc and kernel to the distribution package that provides it (absent: not installed
    from the distribution, e.g. docker-ce, containerd.io or a static binary); `reason`
    says why nothing could be read (an RPM database, no os-release...)."""

    database: str = ""  # dpkg, apk, rpm or ""
    ecosystem: str = ""
    os_name: str = ""
    data: bool = False
    components: dict[str, HostPackage] = field(default_factory=dict)
    reason: str = ""
    via: str = "ssh"


@dataclass
class HostFacts:
    version: dict[str, Any]
    info: dict[str, Any]
    containers: list[ContainerFacts] = field(default_factory=list)
    images: list[ImageFacts] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)
    transport: str = ""  # unix, tls or ssh: how Posture reached the daemon
    host: HostAccess | None = None  # None: the host was not reachable over SSH
    # Why the host's files were not read on the worker's machine (a unix:// daemon that is
    # not this machine's, e.g. behind a proxy); "" when that was not a question.
    host_note: str = ""
    # The Engine, containerd, runc and kernel as the host's package manager installed them,
    # matched against the distribution's advisories; None when no package database was read.
    packages: HostPackages | None = None

    def link(self) -> None:
        """Point each container at its image and host, and each image at its host, so
        container and image rules can read what the engine said about itself."""
        by_id = {image.id: image for image in self.images}
        for image in self.images:
            image.host = self
        for container in self.containers:
            container.host = self
            container.image = by_id.get(str(container.inspect.get("Image", "")))
