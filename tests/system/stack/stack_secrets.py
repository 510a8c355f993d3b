"""The stack's secrets: made as docker-compose.yml's header tells an operator, and looked
for where they must never be (an image's layers)."""

from __future__ import annotations

import base64
import io
import json
import secrets
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
from nacl.public import PrivateKey

SECRETS = (
    "db_password",
    "secret_key",
    "credentials_public_key",
    "credentials_private_keys",
    "encryption_keys",
    "metrics_token",
    "redis_password",
    "broker_url",
)


def write_secrets(directory: Path) -> None:
    """The secrets docker-compose.yml's header tells an operator to create, made once."""
    if all((directory / name).exists() for name in SECRETS):
        return
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    key = PrivateKey.generate()
    redis_password = secrets.token_hex(32)
    values = {
        "db_password": secrets.token_urlsafe(32),
        "secret_key": secrets.token_urlsafe(50),
        "credentials_public_key": base64.b64encode(bytes(key.public_key)).decode(),
        "credentials_private_keys": base64.b64encode(bytes(key)).decode(),
        "encryption_keys": "",
        "metrics_token": secrets.token_urlsafe(32),
        "redis_password": redis_password,
        "broker_url": f"redis://:{redis_password}@redis:6379/0",
    }
    for name, value in values.items():
        path = directory / name
        path.write_text(value + "\n" if value else "")
        # Compose bind-mounts each file as it is: the services' users (10001, 999) read
        # it inside, while the folder (0700) keeps it from this machine's other users.
        path.chmod(0o644)


def secret_values(directory: Path) -> dict[str, str]:
    """{name: value} of the non-empty secrets."""
    values = {}
    for name in SECRETS:
        value = (directory / name).read_text().strip()
        if value:
            values[name] = value
    return values


def image_layers(client: docker.APIClient, tag: str) -> Iterator[tuple[str, tarfile.TarFile]]:
    """(layer path, open tar) for each layer of `docker save tag`."""
    saved = io.BytesIO()
    for chunk in client.get_image(tag):
        saved.write(chunk)
    saved.seek(0)
    with tarfile.open(fileobj=saved) as outer:
        manifest = json.loads(outer.extractfile("manifest.json").read())  # type: ignore[union-attr]
        for layer in manifest[0]["Layers"]:
            member = outer.extractfile(layer)
            if member is None:
                continue
            with tarfile.open(fileobj=io.BytesIO(member.read())) as inner:
                yield layer, inner
