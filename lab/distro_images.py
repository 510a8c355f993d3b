"""Distribution-like images for the vulnerability tests and the demo, built without a registry.

Each is the lab's busybox root filesystem (so containers can run `sleep`) plus the files a
scanner reads: os-release and a package database shaped like the real distribution's, with
real advisory facts (package, source, versions) to match against. They are imported through
the Engine API (`POST /images/create?fromSrc=-`) like lab.images; the big image for the deep
mode bench is a multi-layer `docker save` tar written here and loaded (`POST /images/load`).

The expected inventories are constants here so the tests of every layer assert on one truth.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from lab.images import rootfs_tar
from lab.process import LabError

LABEL = "posture.lab.distro"


@dataclass(frozen=True)
class Expected:
    """One package the inventory must list: (name, version, source name, source version)."""

    ecosystem: str
    name: str
    version: str
    source_name: str = ""
    source_version: str = ""


# -- Debian 12 --------------------------------------------------------------------------------

DEBIAN_TAG = "posture-lab/debian-like:12"
DEBIAN_ECOSYSTEM = "Debian:12"
DEBIAN_OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""
DEBIAN_PACKAGES = (
    # glibc 2.36-9+deb12u1 carries CVE-2023-4911 (Looney Tunables), fixed in 2.36-9+deb12u3.
    Expected(DEBIAN_ECOSYSTEM, "libc6", "2.36-9+deb12u1", "glibc", "2.36-9+deb12u1"),
    Expected(DEBIAN_ECOSYSTEM, "libc-bin", "2.36-9+deb12u1", "glibc", "2.36-9+deb12u1"),
    # The epoch belongs to the source as well: zlib's version is 1:1.2.13.dfsg-1.
    Expected(DEBIAN_ECOSYSTEM, "zlib1g", "1:1.2.13.dfsg-1", "zlib", "1:1.2.13.dfsg-1"),
    # A binNMU: the binary was rebuilt (+b1), the source is still 1.0.8-5.
    Expected(DEBIAN_ECOSYSTEM, "libbz2-1.0", "1.0.8-5+b1", "bzip2", "1.0.8-5"),
    Expected(DEBIAN_ECOSYSTEM, "libcurl4", "7.88.1-10+deb12u1", "curl", "7.88.1-10+deb12u1"),
    # Held back from upgrades, still installed.
    Expected(DEBIAN_ECOSYSTEM, "base-files", "12.4+deb12u1", "base-files", "12.4+deb12u1"),
    Expected(DEBIAN_ECOSYSTEM, "python3-requests", "2.28.1+dfsg-1", "requests", "2.28.1+dfsg-1"),
)
# Removed with its configuration kept: dpkg still has a stanza, nothing is installed.
DEBIAN_REMOVED = "libssl1.1"
DEBIAN_LANGUAGE_PACKAGES = (
    # pip-installed next to the distro's copy; requests < 2.31.0 has CVE-2023-32681.
    Expected("PyPI", "requests", "2.28.0"),
    Expected("npm", "lodash", "4.17.20"),
)
# python3-requests' own dist-info: dpkg owns it, so it is not a second PyPI package.
DEBIAN_DPKG_OWNED_DIST_INFO = "usr/lib/python3/dist-packages/requests-2.28.1.dist-info"

# -- Distroless (Debian 12) -------------------------------------------------------------------

DISTROLESS_TAG = "posture-lab/distroless-like:12"
# Like gcr.io/distroless: PRETTY_NAME says "Distroless" and, here, no VERSION_ID, so the
# release has to come from VERSION.
DISTROLESS_OS_RELEASE = """PRETTY_NAME="Distroless"
NAME="Debian GNU/Linux"
ID="debian"
VERSION="Debian GNU/Linux 12 (bookworm)"
HOME_URL="https://github.com/GoogleContainerTools/distroless"
"""
DISTROLESS_PACKAGES = (
    Expected(DEBIAN_ECOSYSTEM, "base-files", "12.4+deb12u5", "base-files", "12.4+deb12u5"),
    Expected(DEBIAN_ECOSYSTEM, "libc6", "2.36-9+deb12u1", "glibc", "2.36-9+deb12u1"),
    Expected(DEBIAN_ECOSYSTEM, "libssl3", "3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2"),
    Expected(DEBIAN_ECOSYSTEM, "tzdata", "2024a-0+deb12u1", "tzdata", "2024a-0+deb12u1"),
)

# -- Alpine 3.18 ------------------------------------------------------------------------------

ALPINE_TAG = "posture-lab/alpine-like:3.18"
ALPINE_ECOSYSTEM = "Alpine:v3.18"
ALPINE_OS_RELEASE = """NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.18.4
PRETTY_NAME="Alpine Linux v3.18"
HOME_URL="https://alpinelinux.org/"
"""
ALPINE_PACKAGES = (
    Expected(ALPINE_ECOSYSTEM, "musl", "1.2.4-r1", "musl", "1.2.4-r1"),
    # openssl 3.1.3-r0: fixed for CVE-2023-5363 in 3.1.4-r0.
    Expected(ALPINE_ECOSYSTEM, "libcrypto3", "3.1.3-r0", "openssl", "3.1.3-r0"),
    Expected(ALPINE_ECOSYSTEM, "libssl3", "3.1.3-r0", "openssl", "3.1.3-r0"),
    Expected(ALPINE_ECOSYSTEM, "busybox", "1.36.1-r2", "busybox", "1.36.1-r2"),
    Expected(ALPINE_ECOSYSTEM, "py3-six", "1.16.0-r6", "py3-six", "1.16.0-r6"),
)
# py3-six's dist-info: apk owns it (F:/R: lines), so it is not a second PyPI package.
ALPINE_APK_OWNED_DIST_INFO = "usr/lib/python3.11/site-packages/six-1.16.0.dist-info"
ALPINE_LANGUAGE_PACKAGES = (Expected("PyPI", "urllib3", "1.26.17"),)

# -- Ubuntu 22.04 -----------------------------------------------------------------------------

UBUNTU_TAG = "posture-lab/ubuntu-like:22.04"
UBUNTU_OS_RELEASE = """PRETTY_NAME="Ubuntu 22.04.3 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.3 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
"""
UBUNTU_PACKAGES = (
    Expected("Ubuntu:22.04", "libc6", "2.35-0ubuntu3.4", "glibc", "2.35-0ubuntu3.4"),
    Expected("Ubuntu:22.04", "libssl3", "3.0.2-0ubuntu1.10", "openssl", "3.0.2-0ubuntu1.10"),
)


# -- Files ------------------------------------------------------------------------------------


def _stanza(
    package: str,
    version: str,
    source: str = "",
    *,
    status: str = "install ok installed",
    arch: str = "amd64",
) -> str:
    lines = [f"Package: {package}"]
    if status:
        lines.append(f"Status: {status}")
    lines += ["Priority: optional", "Maintainer: Lab <lab@example.invalid>"]
    lines.append(f"Architecture: {arch}")
    if source:
        lines.append(f"Source: {source}")
    lines += [f"Version: {version}", f"Description: {package} (posture lab)", " A lab stanza.", ""]
    return "\n".join(lines)


def _dpkg_source(expected: Expected) -> str:
    if expected.source_name == expected.name:
        return ""
    if expected.source_version != expected.version:
        return f"{expected.source_name} ({expected.source_version})"
    return expected.source_name


def debian_status() -> str:
    stanzas = []
    for package in DEBIAN_PACKAGES:
        status = "hold ok installed" if package.name == "base-files" else "install ok installed"
        arch = "all" if package.name.startswith("python3-") else "amd64"
        stanzas.append(
            _stanza(package.name, package.version, _dpkg_source(package), status=status, arch=arch)
        )
    stanzas.insert(
        3,
        _stanza(DEBIAN_REMOVED, "1.1.1n-0+deb11u5", "openssl", status="deinstall ok config-files"),
    )
    return "\n".join(stanzas)


def _python_metadata(name: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: lab copy\n\n"


def _npm_package(name: str, version: str) -> str:
    return json.dumps({"name": name, "version": version, "license": "MIT", "main": "index.js"})


def debian_files() -> dict[str, str]:
    dist_info = DEBIAN_DPKG_OWNED_DIST_INFO
    return {
        "usr/lib/os-release": DEBIAN_OS_RELEASE,
        "var/lib/dpkg/status": debian_status(),
        "var/lib/dpkg/info/python3-requests.list": "\n".join(
            [
                "/.",
                "/usr",
                "/usr/lib/python3/dist-packages",
                f"/{dist_info}",
                f"/{dist_info}/METADATA",
                "/usr/lib/python3/dist-packages/requests/__init__.py",
                "",
            ]
        ),
        "var/lib/dpkg/info/libc6:amd64.list": "/.\n/usr/lib/x86_64-linux-gnu/libc.so.6\n",
        f"{dist_info}/METADATA": _python_metadata("requests", "2.28.1"),
        "usr/lib/python3/dist-packages/requests/__init__.py": "",
        "usr/local/lib/python3.11/site-packages/requests-2.28.0.dist-info/METADATA": (
            _python_metadata("requests", "2.28.0")
        ),
        "app/node_modules/lodash/package.json": _npm_package("lodash", "4.17.20"),
        # A package's own test fixture is not an installed package.
        "app/node_modules/lodash/test/fixtures/package.json": _npm_package("fixture", "0.0.1"),
    }


def distroless_files() -> dict[str, str]:
    files = {"etc/os-release": DISTROLESS_OS_RELEASE}
    for package in DISTROLESS_PACKAGES:
        stanza = _stanza(package.name, package.version, _dpkg_source(package), status="")
        files[f"var/lib/dpkg/status.d/{package.name}"] = stanza
        files[f"var/lib/dpkg/status.d/{package.name}.md5sums"] = (
            "d41d8cd98f00b204e9800998ecf8427e  usr/share/doc/placeholder\n"
        )
    return files


def alpine_installed() -> str:
    owned = {
        "musl": ["F:lib", "R:ld-musl-x86_64.so.1", "R:libc.musl-x86_64.so.1"],
        "libcrypto3": ["F:lib", "R:libcrypto.so.3"],
        "libssl3": ["F:lib", "R:libssl.so.3"],
        "busybox": ["F:bin", "R:busybox"],
        "py3-six": [
            "F:usr/lib/python3.11/site-packages",
            "R:six.py",
            f"F:{ALPINE_APK_OWNED_DIST_INFO}",
            "R:METADATA",
            "R:RECORD",
        ],
    }
    stanzas = []
    for package in ALPINE_PACKAGES:
        lines = [
            "C:Q1lab0000000000000000000000000000=",
            f"P:{package.name}",
            f"V:{package.version}",
            "A:x86_64",
            "S:100000",
            "I:200000",
            f"T:{package.name} (posture lab)",
            "L:MIT",
            f"o:{package.source_name}",
            *owned[package.name],
        ]
        stanzas.append("\n".join(lines) + "\n")
    return "\n".join(stanzas) + "\n"


def alpine_files() -> dict[str, str]:
    return {
        "etc/os-release": ALPINE_OS_RELEASE,
        "lib/apk/db/installed": alpine_installed(),
        f"{ALPINE_APK_OWNED_DIST_INFO}/METADATA": _python_metadata("six", "1.16.0"),
        "usr/lib/python3.11/site-packages/urllib3-1.26.17.dist-info/METADATA": (
            _python_metadata("urllib3", "1.26.17")
        ),
    }


def ubuntu_files() -> dict[str, str]:
    stanzas = [_stanza(p.name, p.version, _dpkg_source(p)) for p in UBUNTU_PACKAGES]
    return {"etc/os-release": UBUNTU_OS_RELEASE, "var/lib/dpkg/status": "\n".join(stanzas)}


def _entry(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 0
    info.uname = info.gname = "root"
    return info


def _parents(paths: Iterable[str]) -> list[str]:
    found: set[str] = set()
    for path in paths:
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            found.add("/".join(parts[:depth]))
    return sorted(found)


def add_files(
    tar: tarfile.TarFile,
    files: Mapping[str, str | bytes],
    links: Mapping[str, str] | None = None,
    skip_dirs: Iterable[str] = (),
) -> None:
    """Write `files` (and symlinks) with their parent directories into `tar`."""
    links = links or {}
    existing = set(skip_dirs)
    for directory in _parents([*files, *links]):
        if directory not in existing:
            tar.addfile(_entry(directory, tarfile.DIRTYPE, 0o755))
    for name, text in files.items():
        data = text.encode() if isinstance(text, str) else text
        info = _entry(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    for name, target in links.items():
        info = _entry(name, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        tar.addfile(info)


def distro_rootfs(
    files: Mapping[str, str | bytes], links: Mapping[str, str] | None = None
) -> bytes:
    """The busybox root filesystem with `files` added: a tar for `docker import`."""
    buffer = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(rootfs_tar()), mode="r:") as base,
        tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as out,
    ):
        dirs = set()
        for member in base:
            handle = base.extractfile(member) if member.isreg() else None
            out.addfile(member, handle)
            if member.isdir():
                dirs.add(member.name.strip("/"))
        add_files(out, files, links, skip_dirs=dirs)
    return buffer.getvalue()


def import_rootfs(
    client: docker.APIClient, tag: str, files: Mapping[str, str | bytes], links: Mapping[str, str]
) -> str:
    """Import the image under `tag` unless it exists (same content, same tag); its id."""
    try:
        return str(client.inspect_image(tag)["Id"])
    except docker.errors.ImageNotFound:
        pass
    repository, _, version = tag.rpartition(":")
    if not repository or "/" in version:
        raise LabError(f"image tag {tag!r} must be repository:tag")
    client.import_image_from_data(
        distro_rootfs(files, links),
        repository=repository,
        tag=version,
        changes=['CMD ["sleep", "3600"]', f"LABEL {LABEL}={repository.rsplit('/', 1)[-1]}"],
    )
    return str(client.inspect_image(tag)["Id"])


def build_debian_like(client: docker.APIClient, tag: str = DEBIAN_TAG) -> str:
    # /etc/os-release is a link, as on Debian itself.
    return import_rootfs(client, tag, debian_files(), {"etc/os-release": "../usr/lib/os-release"})


def build_distroless_like(client: docker.APIClient, tag: str = DISTROLESS_TAG) -> str:
    return import_rootfs(client, tag, distroless_files(), {})


def build_alpine_like(client: docker.APIClient, tag: str = ALPINE_TAG) -> str:
    return import_rootfs(client, tag, alpine_files(), {})


def build_ubuntu_like(client: docker.APIClient, tag: str = UBUNTU_TAG) -> str:
    return import_rootfs(client, tag, ubuntu_files(), {})


# -- A big multi-layer image, for the deep mode's throughput ----------------------------------

BIG_TAG = "posture-lab/big:1"
_PAYLOAD_CHUNK = 1 << 20


def write_save_tar(
    target: Path, layers: list[Path], tag: str, config: Mapping[str, object] | None = None
) -> None:
    """A `docker save` tar (legacy layout: <id>/layer.tar, manifest.json last) of `layers`."""
    diff_ids = [f"sha256:{_sha256_file(path)}" for path in layers]
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "config": dict(config or {"Cmd": ["sleep", "3600"]}),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "posture lab"} for _ in layers],
    }
    config_bytes = json.dumps(image_config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_names = [f"{diff_id.removeprefix('sha256:')}/layer.tar" for diff_id in diff_ids]
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": layer_names}]
    with tarfile.open(target, mode="w", format=tarfile.PAX_FORMAT) as out:
        for name, path in zip(layer_names, layers, strict=True):
            out.addfile(_entry(name.split("/")[0], tarfile.DIRTYPE, 0o755))
            info = _entry(name)
            info.size = path.stat().st_size
            with path.open("rb") as handle:
                out.addfile(info, handle)
        for name, data in (
            (config_name, config_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = _entry(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_PAYLOAD_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_big_layers(
    folder: Path, size_mb: int, layers: int = 4, files_per_layer: int = 8
) -> list[Path]:
    """`layers` layer tars of random (incompressible) payload files, `size_mb` MiB in all;
    the top one also holds Debian's os-release and dpkg status, so an inventory finds them."""
    paths = []
    per_file = max(1, size_mb * _PAYLOAD_CHUNK // (layers * files_per_layer))
    for index in range(layers):
        path = folder / f"layer{index}.tar"
        with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for number in range(files_per_layer):
                info = _entry(f"opt/payload/{index}/{number}.bin")
                info.size = per_file
                tar.addfile(info, _RandomReader(per_file))
            if index == layers - 1:
                add_files(
                    tar,
                    {"etc/os-release": DEBIAN_OS_RELEASE, "var/lib/dpkg/status": debian_status()},
                )
        paths.append(path)
    return paths


class _RandomReader(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self._left = size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self._left if size is None or size < 0 else min(size, self._left)
        self._left -= size
        return os.urandom(size)


def build_big_image(client: docker.APIClient, tag: str = BIG_TAG, size_mb: int = 1024) -> str:
    """A multi-layer image of about `size_mb` MiB of random payload, loaded from a save tar."""
    try:
        return str(client.inspect_image(tag)["Id"])
    except docker.errors.ImageNotFound:
        pass
    with tempfile.TemporaryDirectory(prefix="posture-big-") as scratch:
        folder = Path(scratch)
        layers = write_big_layers(folder, size_mb)
        save = folder / "image.tar"
        write_save_tar(save, layers, tag)
        for path in layers:
            path.unlink()
        with save.open("rb") as handle:
            for _ in client.load_image(handle):
                pass
    return str(client.inspect_image(tag)["Id"])
