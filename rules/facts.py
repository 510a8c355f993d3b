"""Collected facts about one host, as the rules see them.

The collector (scans.collect) builds these from Engine API responses after redaction:
environment variable values never reach this layer, only names and a redacted form.
Dicts keep the daemon's own field names so evidence reads like `docker inspect`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ImageFacts:
    id: str
    inspect: dict[str, Any]
    history: list[dict[str, Any]] | None = None  # None when history could not be read
    # Set by HostFacts.link(); out of repr and comparisons, which would loop through it.
    host: HostFacts | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        tags = self.inspect.get("RepoTags")
        # A daemon may send any JSON here; only a non-empty list has a first tag.
        return str(tags[0]) if isinstance(tags, list) and tags else self.id[:19]


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
    """What SSH showed of the host itself (CIS sections 1 and 3). Absent without SSH."""

    files: dict[str, FileStat] = field(default_factory=dict)  # stat of the paths of interest
    texts: dict[str, str] = field(default_factory=dict)  # small config files' contents
    commands: dict[str, str] = field(default_factory=dict)  # read-only commands' output
    denied: set[str] = field(default_factory=set)  # paths or commands that were refused


@dataclass
class HostFacts:
    version: dict[str, Any]
    info: dict[str, Any]
    containers: list[ContainerFacts] = field(default_factory=list)
    images: list[ImageFacts] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)
    transport: str = ""  # unix, tls or ssh: how Posture reached the daemon
    host: HostAccess | None = None  # None: the host was not reachable over SSH

    def link(self) -> None:
        """Point each container at its image and host, and each image at its host, so
        container and image rules can read what the engine said about itself."""
        by_id = {image.id: image for image in self.images}
        for image in self.images:
            image.host = self
        for container in self.containers:
            container.host = self
            container.image = by_id.get(str(container.inspect.get("Image", "")))
