"""Paths inside an image's tars: normalised member names and symlink resolution, as the
kernel would resolve them inside the image. Pure."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

_MAX_LINK_HOPS = 40  # Linux's own limit on symlinks followed in one lookup


def normalise(name: str, prefix: str = "") -> str | None:
    """`name` as a root-relative path ("var/lib/dpkg/status"), or None when it escapes."""
    parts = [part for part in f"{prefix}/{name}".split("/") if part not in ("", ".")]
    # A member that climbs out of its root is skipped, never resolved.
    return None if ".." in parts else "/".join(parts) or None


def resolve_path(path: str, links: Mapping[str, str]) -> str | None:
    """Follow symlinks in every component of `path` (root-relative), as the kernel would
    inside the image; None for a loop or more than 40 hops."""
    pending = deque(part for part in path.split("/") if part)
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            del resolved[-1:]  # the root's parent is the root
            continue
        candidate = "/".join([*resolved, part])
        target = links.get(candidate)
        if target is None:
            resolved.append(part)
            continue
        hops += 1
        if hops > _MAX_LINK_HOPS:
            return None
        if target.startswith("/"):
            resolved = []
        pending.extendleft(reversed(target.split("/")))
    return "/".join(resolved)
