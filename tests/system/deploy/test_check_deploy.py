"""`manage.py check --deploy` passes, without a single warning, with the settings
docker-compose.yml gives each Posture service (HTTPS redirect, HSTS, secure cookies...).

The environment is read from the compose file itself, as compose would hand it over: its
`${VAR:-default}` take their defaults, and each /run/secrets/NAME becomes a temporary file
with a plausible value, so a setting added to the file is checked as soon as it lands.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from nacl.public import PrivateKey

ROOT = Path(__file__).resolve().parents[3]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
POSTURE_SERVICES = ("migrate", "web", "worker", "beat")
# ${NAME}, ${NAME:-default}, ${NAME-default}; $$ is a literal $.
VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose's interpolation with nothing set in the shell: every default applies."""
    return VARIABLE.sub(lambda m: "$" if m.group(0) == "$$" else m.group(2) or "", value)


def secret_value(name: str) -> str:
    if name == "broker_url":
        return f"redis://:{secrets.token_hex(32)}@redis:6379/0"
    if name == "credentials_public_key":
        return base64.b64encode(bytes(KEYPAIR.public_key)).decode()
    if name == "credentials_private_keys":
        return base64.b64encode(bytes(KEYPAIR)).decode()
    return secrets.token_urlsafe(50)


KEYPAIR = PrivateKey.generate()


def service_environment(name: str, secrets_dir: Path) -> dict[str, str]:
    service = COMPOSE["services"][name]
    env = {str(k): interpolate(str(v)) for k, v in service.get("environment", {}).items()}
    for secret in service.get("secrets", []):
        (secrets_dir / secret).write_text(secret_value(secret) + "\n")
    for key, value in env.items():
        if value.startswith("/run/secrets/"):
            env[key] = str(secrets_dir / value.removeprefix("/run/secrets/"))
    return env


def test_interpolation_takes_compose_defaults() -> None:
    assert interpolate("${A:-x}/${B-y}/${C}/$$HOME") == "x/y//$HOME"


@pytest.mark.parametrize("name", POSTURE_SERVICES)
def test_check_deploy_passes_with_the_compose_settings(name: str, tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        # What the Dockerfile sets (ENV): the data volume and the built static files.
        "POSTURE_DATA_DIR": str(tmp_path / "data"),
        "POSTURE_STATIC_ROOT": str(tmp_path / "static"),
        **service_environment(name, secrets_dir),
    }
    assert env["POSTURE_SSL_REDIRECT"] == "true", "the production values are the defaults"

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output and "System check identified no issues" in output, output


def test_the_embedded_defaults_serve_plain_http(settings: Any) -> None:
    """scripts/run and the tests speak http on 127.0.0.1: nothing may redirect or pin."""
    assert not settings.SECURE_SSL_REDIRECT
    assert settings.SECURE_HSTS_SECONDS == 0
    assert not settings.SESSION_COOKIE_SECURE and not settings.CSRF_COOKIE_SECURE
