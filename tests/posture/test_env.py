"""Settings from the environment: strict readers that refuse a malformed value at start-up."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from posture.env import env, envbool, envint, envlist, envsecret, persistent_secret

ROOT = Path(__file__).resolve().parents[2]


def test_env_reads_the_value_or_the_default(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("POSTURE_T", "value")
    monkeypatch.delenv("POSTURE_UNSET", raising=False)

    assert env("POSTURE_T") == "value"
    assert env("POSTURE_UNSET", "fallback") == "fallback"
    assert env("POSTURE_UNSET") == ""


@pytest.mark.parametrize(
    "raw, expected",
    [("1", True), ("true", True), (" Yes ", True), ("ON", True)]
    + [("0", False), ("false", False), ("No", False), ("off", False), ("", False)],
)
def test_envbool_accepts_the_usual_spellings(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
):
    monkeypatch.setenv("POSTURE_T", raw)

    assert envbool("POSTURE_T", not expected) is expected


def test_envbool_default_when_unset(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("POSTURE_T", raising=False)

    assert envbool("POSTURE_T", True) is True
    assert envbool("POSTURE_T", False) is False


@pytest.mark.parametrize("raw", ["2", "treu", "enabled", "y"])
def test_envbool_refuses_anything_else_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str
):
    monkeypatch.setenv("POSTURE_T", raw)

    with pytest.raises(ImproperlyConfigured, match=f"POSTURE_T must be true or false, not '{raw}'"):
        envbool("POSTURE_T", False)


def test_envint_reads_an_integer_or_the_default(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("POSTURE_T", "42")
    assert envint("POSTURE_T", 7) == 42
    monkeypatch.setenv("POSTURE_T", "")
    assert envint("POSTURE_T", 7) == 7  # compose's "FOO=" means unset
    monkeypatch.delenv("POSTURE_T")
    assert envint("POSTURE_T", 7) == 7


@pytest.mark.parametrize("raw", ["ten", "1.5", "0x10", "12s"])
def test_envint_refuses_a_non_integer(monkeypatch: pytest.MonkeyPatch, raw: str):
    monkeypatch.setenv("POSTURE_T", raw)

    with pytest.raises(ImproperlyConfigured, match="POSTURE_T must be an integer"):
        envint("POSTURE_T", 7)


def test_envint_refuses_a_value_below_the_minimum(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("POSTURE_T", "4")
    with pytest.raises(ImproperlyConfigured, match="POSTURE_T must be at least 5, not 4"):
        envint("POSTURE_T", 120, minimum=5)
    monkeypatch.setenv("POSTURE_T", "5")
    assert envint("POSTURE_T", 120, minimum=5) == 5


def test_envlist_splits_on_commas_and_drops_blanks(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("POSTURE_T", " a.example , b.example,, ")
    assert envlist("POSTURE_T", "x") == ["a.example", "b.example"]
    monkeypatch.delenv("POSTURE_T")
    assert envlist("POSTURE_T", "x,y") == ["x", "y"]
    assert envlist("POSTURE_T", "") == []


def test_envsecret_prefers_the_file_docker_secrets_mount(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    secret = tmp_path / "token"
    secret.write_text("s3cret-from-file\n")
    monkeypatch.setenv("POSTURE_T", "from-the-environment")
    monkeypatch.setenv("POSTURE_T_FILE", str(secret))

    assert envsecret("POSTURE_T") == "s3cret-from-file"  # stripped of the newline


def test_envsecret_falls_back_to_the_variable_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.delenv("POSTURE_T_FILE", raising=False)
    monkeypatch.setenv("POSTURE_T", "plain")
    assert envsecret("POSTURE_T") == "plain"
    monkeypatch.delenv("POSTURE_T")
    assert envsecret("POSTURE_T", "default") == "default"
    monkeypatch.setenv("POSTURE_T_FILE", "")  # empty: no file named
    assert envsecret("POSTURE_T") == ""


def test_envsecret_refuses_a_file_it_cannot_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("POSTURE_T_FILE", str(tmp_path / "missing"))

    with pytest.raises(ImproperlyConfigured, match="POSTURE_T_FILE: cannot read"):
        envsecret("POSTURE_T")


def test_persistent_secret_is_made_once_private_and_kept(tmp_path: Path):
    path = tmp_path / "data" / "secret_key"

    first = persistent_secret(path)

    assert len(first) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert persistent_secret(path) == first
    assert persistent_secret(tmp_path / "other") != first  # one per installation


def _start(
    tmp_path: Path, script: str = "import posture.settings", **environment: str
) -> subprocess.CompletedProcess[str]:
    """Load the settings in a fresh interpreter, as a process starting up would."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POSTURE_")}
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**clean, "POSTURE_DATA_DIR": str(tmp_path), **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("POSTURE_DEBUG", "maybe", "POSTURE_DEBUG must be true or false"),
        ("POSTURE_SCAN_DEADLINE", "2", "POSTURE_SCAN_DEADLINE must be at least 5"),
        ("POSTURE_SMTP_PORT", "smtp", "POSTURE_SMTP_PORT must be an integer"),
        ("POSTURE_DB_ENGINE", "mysql", "POSTURE_DB_ENGINE must be sqlite or postgres"),
        ("POSTURE_METRICS_ALLOW", "10.0.0.0/33", "POSTURE_METRICS_ALLOW"),
        ("POSTURE_METRICS_TOKEN_FILE", "/nonexistent/token", "POSTURE_METRICS_TOKEN_FILE"),
    ],
)
def test_settings_refuse_to_start_on_a_malformed_value(
    tmp_path: Path, name: str, value: str, message: str
):
    started = _start(tmp_path, **{name: value})

    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr and message in started.stderr


def test_settings_read_secrets_from_files(tmp_path: Path):
    token = tmp_path / "metrics_token"
    token.write_text("prometheus-token\n")
    script = "from posture import settings; print(settings.POSTURE_METRICS['TOKEN'])"

    started = _start(tmp_path, script, POSTURE_METRICS_TOKEN_FILE=str(token))

    assert started.stdout.strip() == "prometheus-token", started.stderr
