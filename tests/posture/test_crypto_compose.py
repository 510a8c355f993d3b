"""docker-compose.yml's key wiring, read by real settings: what the web process is given
cannot open a stored credential, what a worker is given can.

Each service's credential variables from the compose file are handed to a fresh Python that
loads posture.settings, with /run/secrets/<name> pointing at files written here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from posture.lib import crypto

ROOT = Path(__file__).resolve().parents[2]
SERVICES: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
SECRET = "-----BEGIN PRIVATE KEY-----\ncompose-wiring-canary\n-----END PRIVATE KEY-----\n"
OPEN = """
import sys, django
django.setup()
from posture.lib import crypto
try:
    print("opened:" + crypto.decrypt(sys.argv[1]))
except crypto.DecryptionError as exc:
    print("refused:" + str(exc))
"""


def credential_env(service: str, secrets_dir: Path) -> dict[str, str]:
    env = SERVICES[service]["environment"]
    mounted = SERVICES[service]["secrets"]
    out = {}
    for name, value in env.items():
        if name.startswith(("POSTURE_CREDENTIALS_", "POSTURE_ENCRYPTION_")):
            secret = str(value).removeprefix("/run/secrets/")
            assert secret in mounted, f"{service}: {name} names an unmounted secret"
            out[name] = str(secrets_dir / secret)
    return out


def open_in(service: str, token: str, secrets_dir: Path, data_dir: Path) -> str:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTURE_CREDENTIALS_", "POSTURE_ENCRYPTION_"))
    }
    env |= credential_env(service, secrets_dir)
    env |= {"DJANGO_SETTINGS_MODULE": "posture.settings", "POSTURE_DATA_DIR": str(data_dir)}
    done = subprocess.run(
        [sys.executable, "-c", OPEN, token],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    private, public = crypto.generate_pair()
    directory = tmp_path / "secrets"
    directory.mkdir()
    (directory / "credentials_public_key").write_text(public + "\n")
    (directory / "credentials_private_keys").write_text(private + "\n")
    (directory / "encryption_keys").write_text("")  # a new install: no keys from before
    return directory


def test_web_and_beat_cannot_open_a_stored_key_and_the_worker_can(
    settings: Any, secrets_dir: Path, tmp_path: Path
) -> None:
    settings.CREDENTIALS_PUBLIC_KEY = (secrets_dir / "credentials_public_key").read_text().strip()
    settings.CREDENTIALS_PRIVATE_KEYS = []
    token = crypto.encrypt(SECRET)  # as the web process stores it
    data_dir = tmp_path / "data"  # shared by the services, as the compose volume is

    for service in ("web", "beat"):
        assert open_in(service, token, secrets_dir, data_dir) == (
            "refused:this process holds no private key: credentials are opened by workers only"
        ), service
    assert open_in("worker", token, secrets_dir, data_dir) == f"opened:{SECRET.strip()}"
    # Neither web nor beat made an embedded key for itself in the shared data volume.
    assert not (data_dir / "credentials_private_key").exists()


def test_only_the_worker_mounts_private_or_legacy_keys() -> None:
    for name, service in SERVICES.items():
        secrets = set(service.get("secrets", []))
        has_private = {"credentials_private_keys", "encryption_keys"} & secrets
        assert bool(has_private) == (name == "worker"), name
