"""Collect one host's facts through the Engine API's low-level endpoints.

List calls, then one inspect per object (the high-level docker-py helpers inspect every
item a second time). No `size=1` listings and no /system/df: both can block a busy daemon
for minutes. Inspects run on a few threads sharing the host's connection pool.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import quote

from posture.rules.facts import ContainerFacts, HostFacts, ImageFacts
from scans.redact import redact_container, redact_history, redact_image
from scans.transports import DockerAPI, ErrorClass, NotFound, ScanError

CONTAINER_ID = re.compile(r"^[0-9a-f]{64}$")
IMAGE_ID = re.compile(r"^(sha256:)?[0-9a-f]{64}$")
T = TypeVar("T")


def _expect(value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind):
        raise ScanError(ErrorClass.MALFORMED, f"{what}: expected a JSON {kind.__name__}")
    return value


def _ids(listing: Any, what: str, pattern: re.Pattern[str]) -> list[str]:
    ids = []
    for item in _expect(listing, list, what):
        ident = item.get("Id") if isinstance(item, dict) else None
        # Ids go into URL paths: anything but a content hash could be a path traversal.
        if not isinstance(ident, str) or not pattern.match(ident):
            raise ScanError(ErrorClass.MALFORMED, f"{what}: an entry has no valid Id")
        ids.append(ident)
    return list(dict.fromkeys(ids))


def _parallel(api: DockerAPI, fn: Callable[[str], T | None], items: list[str]) -> list[T]:
    # As many threads as the host's pool has connections: more would only queue.
    workers = max(1, min(api.workers, len(items)))
    if workers == 1:
        results = [fn(item) for item in items]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inspect") as pool:
            results = list(pool.map(fn, items))
    return [r for r in results if r is not None]


def _inspect_container(api: DockerAPI, ident: str) -> ContainerFacts | None:
    try:
        data = _expect(
            api.get_json(f"/containers/{quote(ident, safe=':')}/json"), dict, "container"
        )
    except NotFound:
        return None  # removed between the listing and the inspect
    return ContainerFacts(id=ident, inspect=redact_container(data))


def _inspect_image(api: DockerAPI, ident: str) -> ImageFacts | None:
    try:
        data = _expect(api.get_json(f"/images/{quote(ident, safe=':')}/json"), dict, "image")
    except NotFound:
        return None
    try:
        history = _expect(
            api.get_json(f"/images/{quote(ident, safe=':')}/history"), list, "history"
        )
        history = redact_history(history)
    except NotFound:
        history = None
    return ImageFacts(id=ident, inspect=redact_image(data), history=history)


def collect(api: DockerAPI) -> HostFacts:
    version = api.negotiate()
    info = _expect(api.get_json("/info"), dict, "/info")
    container_ids = _ids(
        api.get_json("/containers/json", {"all": "1"}), "/containers", CONTAINER_ID
    )
    image_ids = _ids(api.get_json("/images/json"), "/images", IMAGE_ID)
    containers = _parallel(api, lambda i: _inspect_container(api, i), container_ids)
    images = _parallel(api, lambda i: _inspect_image(api, i), image_ids)
    networks = _expect(api.get_json("/networks"), list, "/networks")
    api.deadline.check()
    return HostFacts(
        version=version, info=info, containers=containers, images=images, networks=networks
    )
