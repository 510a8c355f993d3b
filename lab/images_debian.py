"""Debian base images for the production stack, built here without a registry.

`mmdebstrap --variant=minbase bookworm` writes a root filesystem from the Debian mirror this
machine reaches (the one apt uses), and the Engine API's import endpoint turns the tar into
an image: what `docker import` does. ONE root filesystem holds python3, redis-server and
postgresql-15, and the three images (Python for the Posture image's base, Redis,
PostgreSQL) are that one image with each its own user, command and entrypoint. Three
separate root filesystems were measured first: 126 s, 165 s and 175 s when built side by
side on a shared 2-core machine, against ~110 s for the one (most of the time is apt and
dpkg, which the three would repeat for the ~80 packages they share), and the cold run of
tests/system/stack must fit in 240 s. The price: the Redis image also carries Python and
PostgreSQL's files (they share the layers, so the daemon stores them once).

The image is tagged with a digest of everything that shapes it (suite, packages, hooks,
image settings), so a run reuses what an earlier run imported into the same daemon, and a
change to this file builds again. Never pull.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from lab.process import SYSTEM_PATH, LabError

SUITE = "bookworm"
# The machine's own apt sources (deb822 or one-line), which mmdebstrap takes as a file: the
# image comes from the mirror, and with the security updates, this machine already trusts.
APT_SOURCES = next(
    (
        path
        for path in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list")
        if Path(path).is_file()
    ),
    "/etc/apt/sources.list",
)
PACKAGES = ("python3", "python3-venv", "redis-server", "postgresql-15", "openssh-client")
PGBIN = "/usr/lib/postgresql/15/bin"
# Documentation, manual pages and translations: a good part of a minbase system, and
# nothing in a container reads them.
DPKG_EXCLUDES = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
)
ESSENTIAL_HOOKS = (
    # Written before the maintainer scripts run, so that `adduser --system postgres` in them
    # finds the account and keeps its uid: compose runs PostgreSQL (and Redis) as 999, as
    # the official images do, and initdb needs that uid to have a name.
    'echo "postgres:x:999:999:PostgreSQL:/var/lib/postgresql:/usr/sbin/nologin"'
    ' >> "$1/etc/passwd" && echo "postgres:x:999:" >> "$1/etc/group"',
    # Debian's postinst would create and start a cluster of its own (a slow initdb nobody
    # uses): the entrypoint creates the one in PGDATA on first start.
    'mkdir -p "$1/etc/postgresql-common" && '
    'echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.conf"',
)
CUSTOMIZE_HOOKS = (
    # A named volume mounted here starts as a copy of this directory, owner included.
    'install -d -o 999 -g 999 -m 0700 "$1/var/lib/postgresql/data"',
    # Redis runs as 999 too, the image's postgres account; the package's own `redis`
    # account owns nothing the container uses (no persistence: --save '').
)

# What docker-compose.yml needs of the official postgres image: POSTGRES_USER, POSTGRES_DB,
# POSTGRES_PASSWORD_FILE (and POSTGRES_INITDB_ARGS) on first start, the data in PGDATA,
# the server's options as the command, `pg_isready` on PATH.
POSTGRES_ENTRYPOINT = """#!/bin/sh
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$POSTGRES_PASSWORD_FILE" \\
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C \\
        ${POSTGRES_INITDB_ARGS:-} >/dev/null
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    # The first start listens on a private socket only: the health check (pg_isready on
    # the default socket) must not pass while the database is still being created.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/tmp" -w start
    createdb -h /tmp -U "$POSTGRES_USER" "$POSTGRES_DB"
    pg_ctl -D "$PGDATA" -m fast -w stop
fi
# Arguments are the server's (`command: ["-c", "fsync=off"]`), as with the official image.
if [ "${1:-}" = postgres ]; then shift; fi
exec postgres -D "$PGDATA" "$@"
"""

# Each service's image: the shared root filesystem plus these Dockerfile lines (no RUN:
# nothing to fetch, they build in a second).
DERIVED = {
    "python": ['CMD ["python3"]'],
    "redis": ["USER 999:999", 'CMD ["redis-server"]'],
    "postgres": [
        f"ENV PATH={PGBIN}:{SYSTEM_PATH} PGDATA=/var/lib/postgresql/data",
        "COPY postgres-entrypoint /usr/local/bin/postgres-entrypoint",
        "USER 999:999",
        'ENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]',
        # As the official image: SIGINT is PostgreSQL's fast shutdown (sessions ended, a
        # clean stop in a second). Docker's default SIGTERM is its smart shutdown, which
        # waits for every client to leave, so `docker stop` ran into its timeout and a kill.
        "STOPSIGNAL SIGINT",
    ],
}


@dataclass(frozen=True)
class Built:
    """What ensure_images did: the tags, and whether the root filesystem had to be built."""

    tags: dict[str, str]
    built_rootfs: bool


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


ROOTFS_KEY = _key(SUITE, PACKAGES, DPKG_EXCLUDES, ESSENTIAL_HOOKS, CUSTOMIZE_HOOKS)
ROOTFS_TAG = f"posture-debian/rootfs:{ROOTFS_KEY}"


def tag(name: str) -> str:
    # Each keyed by its own inputs only: a change to the PostgreSQL entrypoint must not
    # give the Python image (and so the wheels and the Posture image) a new tag.
    extra = POSTGRES_ENTRYPOINT if name == "postgres" else ""
    return f"posture-debian/{name}:{_key(ROOTFS_KEY, DERIVED[name], extra)}"


def ensure_images(client: docker.APIClient, work: Path) -> Built:
    """{service: tag} of the Debian images, building what the daemon does not hold yet.

    The root filesystem's tar is written under `work` and removed once imported: the
    daemon's copy is the cache.
    """
    built = not _exists(client, ROOTFS_TAG)
    if built:
        work.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            _import_rootfs(client, Path(tmp))
    tags = {}
    for name, lines in DERIVED.items():
        tags[name] = tag(name)
        if not _exists(client, tags[name]):
            _derive(client, tags[name], lines)
    return Built(tags, built)


def _exists(client: docker.APIClient, image: str) -> bool:
    try:
        client.inspect_image(image)
    except docker.errors.ImageNotFound:
        return False
    return True


def mmdebstrap_argv(output: Path) -> list[str]:
    return [
        "mmdebstrap",
        "--quiet",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        # Conffiles an essential hook wrote (createcluster.conf) are kept, not asked about.
        "--dpkgopt=force-confold",
        *(f"--dpkgopt={option}" for option in DPKG_EXCLUDES),
        *(f"--essential-hook={hook}" for hook in ESSENTIAL_HOOKS),
        *(f"--customize-hook={hook}" for hook in CUSTOMIZE_HOOKS),
        SUITE,
        str(output),
        APT_SOURCES,
    ]


def _import_rootfs(client: docker.APIClient, tmp: Path) -> None:
    if not shutil.which("mmdebstrap"):
        raise LabError("mmdebstrap is not installed (apt-get install mmdebstrap)")
    output = tmp / "rootfs.tar"
    # stdin closed: mmdebstrap reads apt sources from a stdin that is not a terminal.
    result = subprocess.run(
        mmdebstrap_argv(output),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": SYSTEM_PATH},
        timeout=900,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise LabError(f"mmdebstrap failed (exit {result.returncode}):\n{tail}")
    repository, _, version = ROOTFS_TAG.partition(":")
    client.import_image_from_file(
        str(output),
        repository=repository,
        tag=version,
        changes=[f"ENV PATH={SYSTEM_PATH}", "ENV LANG=C.UTF-8"],
    )


def _derive(client: docker.APIClient, image: str, lines: list[str]) -> None:
    dockerfile = "\n".join([f"FROM {ROOTFS_TAG}", *lines]) + "\n"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in (
            ("Dockerfile", dockerfile),
            ("postgres-entrypoint", POSTGRES_ENTRYPOINT),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    stream = client.build(fileobj=context, custom_context=True, tag=image, rm=True, decode=True)
    errors = [chunk["error"] for chunk in stream if "error" in chunk]
    if errors:
        raise LabError(f"could not build {image}: {' '.join(errors)}")
