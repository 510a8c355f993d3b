"""An image's package inventory, read through the Engine API and nothing else.

os mode reads the few files that hold package databases from a container of the image
that already exists: `HEAD /containers/{id}/archive?path=...` for each path (which exist,
which are links), then a GET of each file to read. Neither creates anything on the host,
and both pass a read-only API proxy. deep mode streams the whole image
(`GET /images/{id}/get`, as `docker save` writes it) through the tar reader, with a byte
budget, for images without a container and for language packages.

A failing inventory is that image's "not assessed, because...", never a failed host scan;
only the scan's own deadline goes up, so the scan's deadline handling still ends it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import posixpath
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import BinaryIO, TypeVar, cast

from scans.collect import CONTAINER_ID, IMAGE_ID
from scans.transports.base import DockerAPI
from scans.transports.errors import ErrorClass, NotFound, ScanError
from vulns.packages import InventoryResult
from vulns.readers import OS_PATHS, RPM_PATHS, inventory_from_files, wanted_path
from vulns.tarstream import ArchiveError, TarFiles, TarLimits, read_image_archive, read_tar

log = logging.getLogger(__name__)
T = TypeVar("T")

MODES = ("off", "os", "deep")
OFF_REASON = "image scanning is off for this host"
NO_CONTAINER_REASON = "no container of this image to read from; deep mode reads images without one"
WINDOWS_REASON = "Windows images are not assessed"
# The daemon's answer to an archive HEAD or GET carries the path's stat as base64 JSON; a
# real one is ~150 bytes.
_STAT_HEADER = "X-Docker-Container-Path-Stat"
_MAX_STAT_BYTES = 8192
_LINK_TARGET = re.compile(r"^/[^\x00]{1,1023}$")


def _os_wanted(path: str) -> bool:
    return wanted_path(path, "os")


def _deep_wanted(path: str) -> bool:
    return wanted_path(path, "deep")


def read_inventory(
    api: DockerAPI,
    image_id: str,
    container_id: str | None,
    mode: str,
    limits: TarLimits,
    *,
    platform: str = "linux",
) -> InventoryResult:
    """The inventory of one image, or why there is none (assessed False with a reason).

    `platform` is the image's Os from its inspect. Errors from the daemon and the archive
    become this image's reason; a deadline (ErrorClass.TIMEOUT) propagates.
    """
    if mode not in MODES:
        raise ValueError(f"image scan mode {mode!r} is not one of {', '.join(MODES)}")
    result_mode = "deep" if mode == "deep" else "os"
    if mode == "off":
        return InventoryResult(result_mode, assessed=False, reason=OFF_REASON)
    if (platform or "linux").lower() == "windows":
        return InventoryResult(result_mode, assessed=False, reason=WINDOWS_REASON)
    if mode == "os" and not container_id:
        return InventoryResult(result_mode, assessed=False, reason=NO_CONTAINER_REASON)
    try:
        if mode == "os":
            assert container_id is not None
            return read_os_inventory(api, container_id, limits)
        return read_deep_inventory(api, image_id, limits)
    except ScanError as exc:
        if exc.error_class is ErrorClass.TIMEOUT:
            raise
        return _not_assessed(result_mode, str(exc))
    except ArchiveError as exc:
        return _not_assessed(result_mode, f"unreadable archive: {exc}")
    except Exception as exc:  # noqa: BLE001 - one image's inventory never fails the scan
        log.exception("inventory of image %s failed", image_id[:80])
        return _not_assessed(
            result_mode, f"internal error reading the inventory ({type(exc).__name__})"
        )


def read_os_inventory(api: DockerAPI, container_id: str, limits: TarLimits) -> InventoryResult:
    """The OS packages of a container's image, read from its package databases: a HEAD per
    path (the archive endpoint's stat) tells which exist and which are links, then one GET
    per file to read, all of a round at once."""
    if not CONTAINER_ID.match(container_id):
        raise ScanError(ErrorClass.MALFORMED, f"container id {container_id[:80]!r} is not a hash")
    answers = _concurrently(api, partial(_stat, api, container_id), OS_PATHS)
    stats = dict(zip(OS_PATHS, answers, strict=True))
    if not any(stat is not None for stat in stats.values()):
        # Every path 404: a container removed since the listing answers so too.
        try:
            api.get_raw(f"/containers/{container_id}/json", max_bytes=api.max_object_bytes)
        except NotFound:
            return _not_assessed("os", "the container was removed before its files were read")
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    skipped: dict[str, str] = {}
    reads: dict[str, Callable[[str], bool]] = {}
    for path, stat in stats.items():
        if stat is None:
            continue
        if path in RPM_PATHS:
            # Presence is all that counts (RPM databases are not parsed); one can weigh
            # hundreds of MB, so it is never read.
            skipped[path] = "RPM databases are not read"
        elif stat:
            # The path is a link (etc/os-release -> ../usr/lib/os-release): its archive would
            # hold the link only, so the target is what is read.
            links[path] = stat
            dest = stat.strip("/")
            if stats.get(dest) is None and dest not in reads:
                reads[dest] = _under(dest)
        else:
            reads[path] = _os_wanted
    streamed = 0
    targets: dict[str, str] = {}
    fetch = partial(_archive, api, container_id, limits=limits)
    got = _concurrently(api, lambda path: fetch(path, reads[path]), list(reads))
    for path, found in zip(reads, got, strict=True):
        if found is None:
            continue
        tar, target = found
        streamed += tar.bytes_read
        _add(files, tar, limits)
        links.update(tar.links)
        skipped.update(tar.skipped)
        if path in tar.links:
            # No stat header came back (a proxy may drop it), and the path was a link.
            targets[path] = target or posixpath.normpath(
                posixpath.join("/" + posixpath.dirname(path), tar.links[path])
            )
    for path, target in targets.items():
        dest = target.strip("/")
        links[path] = "/" + dest
        if dest and dest not in files:
            followed = fetch(dest, _under(dest))
            if followed is not None:
                streamed += followed[0].bytes_read
                _add(files, followed[0], limits)
    result = inventory_from_files(files, "os", links, skipped=skipped)
    result.bytes_read = streamed
    return result


def _under(dest: str) -> Callable[[str], bool]:
    # A link's target: the file itself, or the files right inside it (status.d/ is a
    # folder); never a whole tree, which a link to /usr would otherwise bring in.
    return lambda path: path == dest or posixpath.dirname(path) == dest


def _concurrently(api: DockerAPI, fn: Callable[[str], T], items: Sequence[str]) -> list[T]:
    # dockerd answers each archive GET by re-executing itself into the container's root
    # (~50-100 ms per file, measured on the lab daemon): sequential GETs would add those
    # up. As many threads as the host's pool has connections; results in order.
    workers = max(1, min(api.workers, len(items)))
    if workers == 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inventory") as pool:
        return list(pool.map(fn, items))


def read_deep_inventory(api: DockerAPI, image_id: str, limits: TarLimits) -> InventoryResult:
    """OS and language packages of an image, from its `docker save` stream."""
    if not IMAGE_ID.match(image_id):
        raise ScanError(ErrorClass.MALFORMED, f"image id {image_id[:80]!r} is not a hash")
    try:
        with api.get_stream(
            f"/images/{image_id}/get", max_bytes=limits.max_stream_bytes + 1
        ) as body:
            image = read_image_archive(cast(BinaryIO, body), _deep_wanted, limits)
    except NotFound:
        return _not_assessed("deep", "the image was removed before it was read")
    result = inventory_from_files(image.files, "deep", image.links, skipped=image.skipped)
    result.bytes_read = image.bytes_streamed
    result.special_files = image.special  # every layer's headers went by: the whole image
    return result


def _archive(
    api: DockerAPI,
    container_id: str,
    path: str,
    wanted: Callable[[str], bool],
    *,
    limits: TarLimits,
) -> tuple[TarFiles, str] | None:
    """One path's archive: its wanted files, and the daemon's resolved target when the path
    itself is a symlink ("" otherwise). None when the container has no such path."""
    absolute = "/" + path.strip("/")
    parent = posixpath.dirname(absolute).strip("/")
    try:
        with api.get_stream(
            f"/containers/{container_id}/archive",
            {"path": absolute},
            max_bytes=_archive_cap(limits),
        ) as body:
            target = _link_target(body.headers.get(_STAT_HEADER))
            tar = read_tar(
                cast(BinaryIO, body), wanted, limits, prefix=parent + "/" if parent else ""
            )
    except NotFound:
        return None
    return tar, target


def _stat(api: DockerAPI, container_id: str, path: str) -> str | None:
    """None when the container has no such path; else the absolute target dockerd resolved
    when the path is a link, "" when it is not (or the daemon sent no stat)."""
    try:
        headers = api.head(f"/containers/{container_id}/archive", {"path": "/" + path})
    except NotFound:
        return None
    return _link_target(headers.get(_STAT_HEADER))


def _archive_cap(limits: TarLimits) -> int:
    # A database folder (status.d/) is many small files; tar spends up to 1.5 KiB of headers
    # and padding on each, so twice the wanted-file budget leaves room for real ones.
    return min(2 * limits.max_total_bytes + (1 << 20), limits.max_stream_bytes)


def _link_target(header: str | None) -> str:
    """The symlink target dockerd resolved for the requested path, from its stat header;
    "" when the header is absent, not a link or not believable."""
    if not header or len(header) > _MAX_STAT_BYTES:
        return ""
    try:
        stat = json.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        return ""
    target = stat.get("linkTarget") if isinstance(stat, dict) else None
    if not isinstance(target, str) or not _LINK_TARGET.match(target):
        return ""
    normal = posixpath.normpath(target)
    return normal if normal != "/" else ""


def _add(files: dict[str, bytes], tar: TarFiles, limits: TarLimits) -> None:
    files.update(tar)
    if sum(map(len, files.values())) > limits.max_total_bytes:
        raise ArchiveError(f"package databases exceed {limits.max_total_bytes} bytes together")


def _not_assessed(mode: str, reason: str) -> InventoryResult:
    return InventoryResult(mode, assessed=False, reason=reason[:500])
