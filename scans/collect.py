"""Collect one host's facts through the Engine API's low-level endpoints.

List calls, then one inspect per object (the high-level docker-py helpers inspect every
item a second time). No `size=1` listings and no /system/df: both can block a busy daemon
for minutes. Inspects run on a few threads sharing the host's connection pool.

An image id is the hash of its config, so an image already stored for the host is not
inspected again: only its references (RepoTags, RepoDigests) can change under the same id,
and the /images/json listing carries those.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import quote

from rules.facts import ContainerFacts, HostFacts, ImageFacts
from scans.redact import redact_container, redact_history, redact_image
from scans.transports import DockerAPI, ErrorClass, NotFound, ScanError

CONTAINER_ID = re.compile(r"^[0-9a-f]{64}$")
IMAGE_ID = re.compile(r"^(sha256:)?[0-9a-f]{64}$")
T = TypeVar("T")


def _expect(value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind):
        raise ScanError(ErrorClass.MALFORMED, f"{what}: expected a JSON {kind.__name__}")
    return value


def _entries(listing: Any, what: str, pattern: re.Pattern[str]) -> dict[str, dict[str, Any]]:
    """The listing's entries by Id, in the daemon's order, the first of any duplicate kept."""
    entries: dict[str, dict[str, Any]] = {}
    for item in _expect(listing, list, what):
        ident = item.get("Id") if isinstance(item, dict) else None
        # Ids go into URL paths: anything but a content hash could be a path traversal.
        if not isinstance(ident, str) or not pattern.match(ident):
            raise ScanError(ErrorClass.MALFORMED, f"{what}: an entry has no valid Id")
        entries.setdefault(ident, item)
    return entries


def _parallel(api: DockerAPI, fn: Callable[[str], T | None], items: list[str]) -> list[T]:
    # As many threads as the host's pool has connections: more would only queue.
    workers = max(1, min(api.workers, len(items)))
    if workers == 1:
        results = [fn(item) for item in items]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inspect") as pool:
            results = list(pool.map(fn, items))
    return [r for r in results if r is not None]


def _object(api: DockerAPI, path: str) -> Any:
    # One object's document: a smaller cap than listings (see Limits.max_object_bytes).
    return api.get_json(path, max_bytes=api.max_object_bytes)


def _inspect_container(api: DockerAPI, ident: str) -> ContainerFacts | None:
    try:
        data = _expect(
            _object(api, f"/containers/{quote(ident, safe=':')}/json"), dict, "container"
        )
    except NotFound:
        return None  # removed between the listing and the inspect
    return ContainerFacts(id=ident, inspect=redact_container(data))


def _inspect_image(api: DockerAPI, ident: str) -> ImageFacts | None:
    try:
        data = _expect(_object(api, f"/images/{quote(ident, safe=':')}/json"), dict, "image")
    except NotFound:
        return None
    try:
        history = _expect(
            _object(api, f"/images/{quote(ident, safe=':')}/history"), list, "history"
        )
        history = redact_history(history)
    except NotFound:
        history = None
    return ImageFacts(id=ident, inspect=redact_image(data), history=history)


# The listing's placeholders for an image without references (dockerd before API 1.44);
# inspect reports the same image with empty lists.
_NO_REFERENCE = {"<none>:<none>", "<none>@<none>"}


def _references(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []  # null: no references, as inspect's []
    return [v for v in value if isinstance(v, str) and v not in _NO_REFERENCE]


def _relisted(known: ImageFacts, entry: dict[str, Any]) -> ImageFacts:
    """A stored image with the references the listing gives now (a retag keeps the id)."""
    inspect = dict(known.inspect)
    for key in ("RepoTags", "RepoDigests"):
        if key in entry:  # a listing without the field says nothing: keep what was stored
            inspect[key] = _references(entry[key])
    return ImageFacts(id=known.id, inspect=inspect, history=known.history)


def collect(
    api: DockerAPI,
    known_images: Mapping[str, ImageFacts] | None = None,
    on_info: Callable[[dict[str, Any]], None] | None = None,
) -> HostFacts:
    """known_images: the host's stored images by id (findings.store.known_images); those the
    daemon still lists are taken from there instead of being inspected again. on_info is
    given /info as soon as it is read (the host checks running beside: scans.hostchecks)."""
    version = api.negotiate()
    info = _expect(api.get_json("/info"), dict, "/info")
    if on_info is not None:
        on_info(info)
    container_ids = list(
        _entries(api.get_json("/containers/json", {"all": "1"}), "/containers", CONTAINER_ID)
    )
    listed = _entries(api.get_json("/images/json"), "/images", IMAGE_ID)
    known = known_images or {}
    containers = _parallel(api, lambda i: _inspect_container(api, i), container_ids)
    unknown_ids = [i for i in listed if i not in known]
    inspected = {
        image.id: image for image in _parallel(api, lambda i: _inspect_image(api, i), unknown_ids)
    }
    images = [
        _relisted(known[i], entry) if i in known else inspected[i]
        for i, entry in listed.items()
        if i in known or i in inspected
    ]
    networks = _expect(api.get_json("/networks"), list, "/networks")
    api.deadline.check()
    return HostFacts(
        version=version, info=info, containers=containers, images=images, networks=networks
    )
