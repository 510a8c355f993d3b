"""docker-compose.yml, the production shape, follows the rules Posture checks for others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[3] / "docker-compose.yml"
SERVICES: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]


def test_production_shape() -> None:
    assert set(SERVICES) == {"migrate", "web", "worker", "beat", "redis", "postgres"}


def test_every_posture_process_waits_for_the_migrations() -> None:
    for name in ("web", "worker", "beat"):
        assert SERVICES[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    assert SERVICES["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert "migrate" not in SERVICES["migrate"]["depends_on"]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_is_hardened(name: str) -> None:
    service = SERVICES[name]
    user = str(service.get("user", ""))
    assert user and not user.startswith(("0", "root")), "rule 2: run as a non-root user"
    assert service.get("cap_drop") == ["ALL"], "rule 3: drop all capabilities"
    assert not service.get("cap_add") and not service.get("privileged")
    assert "no-new-privileges:true" in service.get("security_opt", []), "rule 4"
    assert not any(
        "seccomp" in opt or "apparmor" in opt for opt in service.get("security_opt", [])
    ), "rule 6: keep the defaults"
    assert service.get("mem_limit") and service.get("pids_limit") and service.get("cpus"), (
        "rule 7: memory, CPU and PIDs limits"
    )
    assert service.get("restart", "").startswith("on-failure:"), "rule 7: bounded restarts"
    assert service.get("read_only") is True, "rule 8: read-only root filesystem"
    for key in ("network_mode", "pid", "ipc"):
        assert service.get(key) != "host", f"{key}: host namespaces are not shared"
    volumes = " ".join(str(v) for v in service.get("volumes", []))
    assert "docker.sock" not in volumes, "rule 1: no Docker socket in any container"


SECRET_WORDS = ("PASSWORD", "SECRET", "KEY", "TOKEN")
DECLARED_SECRETS = set(yaml.safe_load(COMPOSE.read_text()).get("secrets", {}))


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, whichever of compose's two forms it is written in."""
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_secrets_come_as_files_not_values(name: str) -> None:
    """Rule 12: a value in the environment shows in `docker inspect` and in every child
    process; a compose secret is a file under /run/secrets that only the service reads."""
    service = SERVICES[name]
    for key, value in _environment(service).items():
        if not any(word in key.upper() for word in SECRET_WORDS):
            continue
        assert key.endswith("_FILE"), f"{name}: {key} is passed in clear, use {key}_FILE"
        secret = value.removeprefix("/run/secrets/")
        assert value == f"/run/secrets/{secret}", f"{name}: {key} is not a compose secret"
        assert secret in service.get("secrets", []), f"{name}: {key} names an unmounted secret"
        assert secret in DECLARED_SECRETS, f"{key}: secret {secret!r} is not declared"


def test_the_secret_check_flags_every_kind_of_secret() -> None:
    clear = {"environment": {"POSTURE_METRICS_TOKEN": "${POSTURE_METRICS_TOKEN:-}"}}
    listed = {"environment": ["API_KEY=abc"]}
    for service in (clear, listed):
        SERVICES["probe"] = service
        try:
            with pytest.raises(AssertionError, match="in clear"):
                test_secrets_come_as_files_not_values("probe")
        finally:
            del SERVICES["probe"]


def test_only_the_web_port_is_published_and_only_on_loopback() -> None:
    published = {name: s.get("ports", []) for name, s in SERVICES.items() if s.get("ports")}
    # The host port may move (POSTURE_WEB_PORT), the address may not.
    assert published == {"web": ["127.0.0.1:${POSTURE_WEB_PORT:-8000}:8000"]}


POSTURE_SERVICES = ("migrate", "web", "worker", "beat")


@pytest.mark.parametrize("name", POSTURE_SERVICES)
def test_the_broker_url_is_a_secret(name: str) -> None:
    """It carries Redis' password."""
    env = _environment(SERVICES[name])
    assert "POSTURE_BROKER_URL" not in env
    assert env["POSTURE_BROKER_URL_FILE"] == "/run/secrets/broker_url"
    assert "broker_url" in SERVICES[name]["secrets"]


def test_redis_asks_for_the_password_of_its_secret_file() -> None:
    redis = SERVICES["redis"]
    script = redis["command"][-1]
    assert "requirepass $$(cat /run/secrets/redis_password)" in script
    assert redis["secrets"] == ["redis_password"]
    assert "redis_password" in DECLARED_SECRETS and "broker_url" in DECLARED_SECRETS
    health = " ".join(redis["healthcheck"]["test"])
    assert "REDISCLI_AUTH=" in health and "grep -qx PONG" in health


def test_each_service_sits_on_the_networks_it_needs_and_no_other() -> None:
    """backend (internal): the database and Redis. frontend: web's published port (Docker
    publishes none from internal networks only) and the workers' way to the fleet."""
    networks = {name: sorted(s.get("networks", [])) for name, s in SERVICES.items()}
    assert networks == {
        "migrate": ["backend"],
        "web": ["backend", "frontend"],
        "worker": ["backend", "frontend"],
        "beat": ["backend"],
        "redis": ["backend"],
        "postgres": ["backend"],
    }
    declared = yaml.safe_load(COMPOSE.read_text())["networks"]
    assert declared["backend"].get("internal") is True
