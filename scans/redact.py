"""Environment variable values are secrets more often than not: keep names, drop values.

What is kept of each value is a redacted form and two numbers that let rules judge whether
it looked like a secret (length and Shannon entropy), never the value itself.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

REDACTED = "<redacted>"
# `ENV NAME=value` and `ENV NAME value` as recorded in image history (CreatedBy).
_HISTORY_ENV = re.compile(r"(\bENV\s+)(.*)$", re.DOTALL)
_HISTORY_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\"(?:[^\"\\]|\\.)*\"|'[^']*'|\S*)")


def entropy(value: str) -> float:
    if not value:
        return 0.0
    counts = Counter(value)
    total = len(value)
    return round(-sum(n / total * math.log2(n / total) for n in counts.values()), 2)


def redact_env(env: Any) -> tuple[list[str] | None, list[dict[str, Any]]]:
    """Return (NAME=<redacted> list, metadata) for a Config.Env value of any shape."""
    if not isinstance(env, list):
        return None, []
    redacted: list[str] = []
    meta: list[dict[str, Any]] = []
    for item in env:
        if not isinstance(item, str):
            continue
        name, sep, value = item.partition("=")
        redacted.append(f"{name}={REDACTED}" if sep else name)
        meta.append({"name": name, "length": len(value), "entropy": entropy(value)})
    return redacted, meta


def redact_config(config: Any) -> None:
    if isinstance(config, dict) and "Env" in config:
        config["Env"], config["PostureEnvMeta"] = redact_env(config["Env"])


def redact_history_line(created_by: str) -> str:
    match = _HISTORY_ENV.search(created_by)
    if not match:
        return created_by
    body = match.group(2)
    if "=" in body:
        body = _HISTORY_PAIR.sub(lambda m: f"{m.group(1)}={REDACTED}", body)
    else:  # legacy `ENV NAME value` form
        body = body.split(None, 1)[0] + f" {REDACTED}" if body.strip() else body
    return created_by[: match.start(2)] + body


def redact_container(inspect: dict[str, Any]) -> dict[str, Any]:
    redact_config(inspect.get("Config"))
    return inspect


def redact_image(inspect: dict[str, Any]) -> dict[str, Any]:
    redact_config(inspect.get("Config"))
    redact_config(inspect.get("ContainerConfig"))
    return inspect


def redact_history(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for layer in history:
        if isinstance(layer, dict) and isinstance(layer.get("CreatedBy"), str):
            layer["CreatedBy"] = redact_history_line(layer["CreatedBy"])
    return history
