"""A host from Docker's own conventions: a context (`docker context export` archive or the
`~/.docker/contexts` store) or the DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH
environment. What comes out is an endpoint and its TLS material; hosts.inventory then
checks it like any other entry (target policy, certificates, the key belonging to its
certificate).

An archive is someone else's file: it is read in memory, never extracted, and refused
unless it is exactly what `docker context export` writes — a plain tar of meta.json and
tls/docker/{ca,cert,key}.pem, regular files only (no link, device or path outside it),
each small. Docker's own trust settings are not widened: a context or an environment that
skips TLS verification is refused, since Posture verifies every daemon against its CA.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from django.utils.translation import gettext as _

from hosts.inventory_entries import Entry, Material, References, RefError, read_entry
from hosts.inventory_io import RawEntry

ARCHIVE_MAX = 1024 * 1024
MEMBER_MAX = 64 * 1024
MEMBERS_MAX = 16
FILES = {"ca.pem": "tls_ca_cert", "cert.pem": "tls_client_cert", "key.pem": "tls_client_key"}
ARCHIVE_DIRS = {"tls", "tls/docker"}
ARCHIVE_FILES = {"meta.json", *(f"tls/docker/{f}" for f in FILES)}


class ContextError(ValueError):
    pass


@dataclass(frozen=True)
class DockerEndpoint:
    host: str  # as DOCKER_HOST spells it: tcp://…, ssh://…, unix://…
    material: dict[str, Material]  # by host form field
    origin: str  # "context lab1", "archive lab1.dockercontext", "environment"


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def load_context(source: str, *, docker_config: Path | None = None) -> DockerEndpoint:
    """An exported archive when `source` is a file, else a context of that name."""
    path = Path(source).expanduser()
    if path.is_file():
        return read_archive(path)
    return read_context(source, docker_config or config_dir())


def read_context(name: str, docker_config: Path) -> DockerEndpoint:
    if name == "default":
        raise ContextError(
            _("The default context is the environment: import it with --docker-env.")
        )
    # Docker stores each context under the SHA-256 of its name (a name may hold any text).
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta_path = docker_config / "contexts" / "meta" / digest / "meta.json"
    try:
        meta = _meta(meta_path.read_bytes()[: MEMBER_MAX + 1], f"context {name}")
    except FileNotFoundError:
        raise ContextError(
            _("No Docker context named %(name)s in %(dir)s.")
            % {"name": name, "dir": docker_config / "contexts"}
        ) from None
    except OSError as exc:
        raise ContextError(f"{meta_path}: {exc.strerror}") from None
    host = _docker_host(meta, f"context {name}")
    tls_dir = docker_config / "contexts" / "tls" / digest / "docker"
    material: dict[str, Material] = {}
    if tls_dir.is_dir():
        refs = References()
        for filename, form_field in FILES.items():
            if (tls_dir / filename).exists():
                try:
                    material[form_field] = refs.read(f"file:{tls_dir / filename}", filename)
                except RefError as exc:
                    raise ContextError(str(exc)) from None
    return DockerEndpoint(host, material, f"context {name}")


def read_archive(path: Path) -> DockerEndpoint:
    origin = f"archive {path.name}"
    try:
        with path.open("rb") as handle:
            data = handle.read(ARCHIVE_MAX + 1)
    except OSError as exc:
        raise ContextError(f"{path}: {exc.strerror}") from None
    if len(data) > ARCHIVE_MAX:
        raise ContextError(
            _("%(path)s is larger than 1 MiB: not a context export.") % {"path": path.name}
        )
    files: dict[str, bytes] = {}
    try:
        # Docker ends the archive after the last file's bytes, without the padding and the
        # end-of-archive blocks tar writes (tar itself says "Unexpected EOF"): added here.
        data += b"\0" * (-len(data) % 512 + 1024)
        # "r:" reads a plain tar only, which is what `docker context export` writes: no
        # decompression, so the caps on the file are caps on what is read.
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for count, member in enumerate(archive, start=1):
                if count > MEMBERS_MAX:
                    raise ContextError(_("%(path)s holds too many files.") % {"path": path.name})
                name = _member_name(member, path.name)
                if member.isdir() and name in ARCHIVE_DIRS:
                    continue
                if not member.isreg() or name not in ARCHIVE_FILES:
                    raise ContextError(
                        _(
                            "%(path)s holds %(member)s, which a Docker context export does not: "
                            "refused."
                        )
                        % {"path": path.name, "member": repr(member.name[:80])}
                    )
                if name in files:
                    raise ContextError(
                        _("%(path)s holds %(member)s twice.") % {"path": path.name, "member": name}
                    )
                if member.size > MEMBER_MAX:
                    raise ContextError(
                        _("%(path)s: %(member)s is larger than 64 KiB.")
                        % {"path": path.name, "member": name}
                    )
                content = archive.extractfile(member)
                files[name] = content.read(MEMBER_MAX + 1) if content else b""
    except (tarfile.TarError, EOFError) as exc:
        raise ContextError(
            _("%(path)s is not a Docker context export (%(error)s).")
            % {"path": path.name, "error": exc}
        ) from None
    if "meta.json" not in files:
        raise ContextError(
            _("%(path)s has no meta.json: not a Docker context export.") % {"path": path.name}
        )
    host = _docker_host(_meta(files["meta.json"], origin), origin)
    material = {}
    for filename, form_field in FILES.items():
        pem = files.get(f"tls/docker/{filename}")
        if pem is not None:
            material[form_field] = Material(
                _text(pem, filename, origin), f"{origin}: tls/docker/{filename}"
            )
    return DockerEndpoint(host, material, origin)


def _member_name(member: tarfile.TarInfo, archive: str) -> str:
    name = member.name.removeprefix("./").rstrip("/")
    parts = name.split("/")
    if member.name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise ContextError(
            _("%(path)s holds a path outside the archive (%(member)s): refused.")
            % {"path": archive, "member": repr(member.name[:80])}
        )
    return name


def _text(data: bytes, what: str, origin: str) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise ContextError(
            _("%(origin)s: %(what)s is not text.") % {"origin": origin, "what": what}
        ) from None


def _meta(data: bytes, origin: str) -> dict[str, object]:
    text = _text(data[:MEMBER_MAX], "meta.json", origin)
    try:
        meta = json.loads(text)
    except ValueError:
        raise ContextError(_("%(origin)s: meta.json is not JSON.") % {"origin": origin}) from None
    if not isinstance(meta, dict):
        raise ContextError(
            _("%(origin)s: meta.json is not a context description.") % {"origin": origin}
        )
    return meta


def _docker_host(meta: dict[str, object], origin: str) -> str:
    endpoints = meta.get("Endpoints")
    docker = endpoints.get("docker") if isinstance(endpoints, dict) else None
    host = docker.get("Host") if isinstance(docker, dict) else None
    if not isinstance(host, str) or not host:
        raise ContextError(_("%(origin)s has no Docker endpoint.") % {"origin": origin})
    if docker.get("SkipTLSVerify"):  # type: ignore[union-attr]
        raise ContextError(
            _(
                "%(origin)s skips TLS verification: Posture verifies every daemon against "
                "its CA. Create the context with ca=, cert= and key=."
            )
            % {"origin": origin}
        )
    return host


def read_environment(environ: Mapping[str, str] | None = None) -> DockerEndpoint:
    """DOCKER_HOST as the docker CLI reads it: TLS when DOCKER_TLS_VERIFY is set (any
    non-empty value, as Docker decides), certificates in DOCKER_CERT_PATH or ~/.docker."""
    environ = os.environ if environ is None else environ
    host = environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if not host.startswith("tcp://"):
        return DockerEndpoint(host, {}, "environment")
    if not environ.get("DOCKER_TLS_VERIFY"):
        raise ContextError(
            _(
                "DOCKER_HOST is tcp:// but DOCKER_TLS_VERIFY is not set: Posture reaches "
                "tcp:// daemons over verified mutual TLS only. Set DOCKER_TLS_VERIFY=1 "
                "and DOCKER_CERT_PATH."
            )
        )
    cert_path = Path(environ.get("DOCKER_CERT_PATH") or config_dir(environ)).expanduser()
    material = {}
    refs = References()
    for filename, form_field in FILES.items():
        try:
            material[form_field] = refs.read(
                f"file:{cert_path / filename}", f"DOCKER_CERT_PATH {filename}"
            )
        except RefError as exc:
            raise ContextError(str(exc)) from None
    return DockerEndpoint(host, material, "environment")


def entry(endpoint: DockerEndpoint, values: dict[str, object], refs: References) -> Entry:
    """An inventory entry for this endpoint: `values` gives the name, labels, and for an
    ssh:// context the key and pinned host key (Docker keeps those in ssh's own files)."""
    found = read_entry(RawEntry(endpoint.origin, {**values, "endpoint": endpoint.host}, []), refs)
    for form_field, material in endpoint.material.items():
        found.material.setdefault(form_field, material)
    return found
