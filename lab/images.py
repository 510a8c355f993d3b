"""The lab's only image: a static busybox in an otherwise empty root filesystem.

No registry is reachable from the lab (nor wanted: tests must not depend on the network),
so the image is built here from Debian's busybox-static and handed to the daemon through
the Engine API's import endpoint (`POST /images/create?fromSrc=-`). Never pull.
"""

from __future__ import annotations

import io
import shutil
import struct
import tarfile
from collections.abc import Iterable
from pathlib import Path

import docker
import docker.errors

from lab.process import LabError

DEFAULT_TAG = "posture-lab/busybox:1"
APPLETS = ("sh", "sleep", "id", "cat", "ls", "echo", "true")
# Where Debian's busybox-static puts its binary; the dynamic `busybox` package uses
# /usr/bin/busybox (or /bin/busybox on older releases), which would not run in an empty rootfs.
_CANDIDATES = (Path("/bin/busybox"), Path("/usr/bin/busybox"), Path("/usr/lib/busybox/busybox"))
_PT_INTERP = 3


def is_static_elf(path: Path) -> bool:
    """True for an ELF executable without a program interpreter (no dynamic loader needed)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2:
                return False  # not a 64-bit ELF file
            endian = "<" if header[5] == 1 else ">"
            (phoff,) = struct.unpack_from(endian + "Q", header, 0x20)
            phentsize, phnum = struct.unpack_from(endian + "HH", header, 0x36)
            handle.seek(phoff)
            table = handle.read(phentsize * phnum)
    except OSError:
        return False
    types = (struct.unpack_from(endian + "I", table, i * phentsize)[0] for i in range(phnum))
    return _PT_INTERP not in types


def find_static_busybox(candidates: Iterable[Path] = _CANDIDATES) -> Path:
    found = [path for path in candidates if path.is_file()]
    on_path = shutil.which("busybox")
    if on_path:
        found.append(Path(on_path))
    for path in found:
        if is_static_elf(path):
            return path
    raise LabError(
        "no statically linked busybox found (looked at "
        + ", ".join(str(path) for path in found or candidates)
        + "); install Debian's busybox-static"
    )


def rootfs_tar(busybox: Path | None = None) -> bytes:
    """An uncompressed tar of / with /bin/busybox, its applet links and the usual mount points."""
    busybox = busybox or find_static_busybox()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        # Mount points exist in the image so that a read-only rootfs still gets them.
        for directory, mode in (
            ("bin", 0o755),
            ("dev", 0o755),
            ("etc", 0o755),
            ("proc", 0o555),
            ("sys", 0o555),
            ("tmp", 0o1777),
        ):
            tar.addfile(_entry(directory, tarfile.DIRTYPE, mode))
        binary = _entry("bin/busybox", tarfile.REGTYPE, 0o755)
        binary.size = busybox.stat().st_size
        with busybox.open("rb") as handle:
            tar.addfile(binary, handle)
        for applet in APPLETS:
            link = _entry(f"bin/{applet}", tarfile.SYMTYPE, 0o777)
            link.linkname = "busybox"
            tar.addfile(link)
        # `id` and user lookups read these; uid 1000 is the hardened sample's user.
        for name, text in (
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nlab:x:1000:1000:lab:/tmp:/bin/sh\n"),
            ("etc/group", "root:x:0:\nlab:x:1000:\n"),
        ):
            data = text.encode()
            entry = _entry(name, tarfile.REGTYPE, 0o644)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


def _entry(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    # Fixed owner and time so the tarball (and thus the layer digest) is reproducible.
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    return info


def import_image(client: docker.APIClient, tag: str = DEFAULT_TAG) -> str:
    """Import the busybox image under `tag` unless it exists; return the image id."""
    try:
        return str(client.inspect_image(tag)["Id"])
    except docker.errors.ImageNotFound:
        pass
    repository, _, version = tag.rpartition(":")
    if not repository or "/" in version:
        raise LabError(f"image tag {tag!r} must be repository:tag")
    client.import_image_from_data(
        rootfs_tar(), repository=repository, tag=version, changes=['CMD ["sh"]']
    )
    return str(client.inspect_image(tag)["Id"])
