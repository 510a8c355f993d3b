"""Secrets in what daemons report are dropped on arrival, before anything stores them.

Environment values are secrets more often than not: their names are kept, their values
dropped; what is kept of each value is a redacted form and two numbers that let rules judge
whether it looked like a secret (length and Shannon entropy), never the value itself.

Elsewhere only what looks like a secret is hidden, so that the rest stays readable: command
lines (Cmd, Entrypoint, Args, health checks; `--password=…`, `--token …`, `sshpass -p …`,
`curl -u user:…`, `Authorization: Bearer …`, user:password@ in URLs, `TOKEN=…`), label values
under a secret-sounding key, and image history lines (RUN, ARG, LABEL, build arguments).
Such a value becomes MASK, which the secret rules (rules.secrets) still count as a value
that was there: they report that a secret WAS in the command line or label, not what it was.
A reference ($TOKEN, /run/secrets/…) is not a secret and is left alone.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import PurePosixPath
from typing import Any

from rules.secrets import secret_name, words

REDACTED = "<redacted>"
# Not "<redacted>": rules.secrets takes that as the env placeholder (judged from the
# measurements beside it) and stays quiet, where a hidden command-line value must still count.
MASK = "REDACTED"
# `ENV NAME=value` and `ENV NAME value` as recorded in image history (CreatedBy).
_HISTORY_ENV = re.compile(r"(\bENV\s+)(.*)$", re.DOTALL)
_HISTORY_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\"(?:[^\"\\]|\\.)*\"|'[^']*'|\S*)")

# A value on a command line: quoted, or up to the next space or shell operator.
_VALUE = r"(\"[^\"]*\"|'[^']*'|[^\s;&|]+)"
_FLAG = re.compile(r"(?<![\w-])(--?([A-Za-z][\w.-]*)(?:=|\s+))" + _VALUE)
_FLAG_ALONE = re.compile(r"^--?([A-Za-z][\w.-]*)$")
# NAME=value: shell assignments, ARG and ENV, --build-arg, -e, -Dkey=value, LABEL key=value.
_ASSIGN = re.compile(r"(?<![\w$.-])((?:-D)?([A-Za-z_][\w.-]*)=)" + _VALUE)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/@\s:]+:)([^/@\s]+)(@)", re.I)
_AUTH_HEADER = re.compile(
    r"(Authorization:\s*(?:Bearer|Basic|token)\s+)([A-Za-z0-9._~+/=-]+)", re.I
)
# Programs whose short options take a password; elsewhere -p is a port or `mkdir -p`.
_MYSQL = r"(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mysqlshow|mariadb[\w-]*)"
_SHORT = [
    # mysql -psecret: attached only (`-p name` prompts, and name is the database).
    re.compile(rf"(\b{_MYSQL}\b[^;&|]*?\s-p)([^\s;&|]+)"),
    re.compile(r"(\bsshpass\b[^;&|]*?\s-p\s*)" + _VALUE),
    re.compile(r"(\bredis-cli\b[^;&|]*?\s-a\s+)" + _VALUE),
    re.compile(r"(\bcurl\b[^;&|]*?\s(?:-u|--user)\s+[^\s:;&|]+:)([^\s;&|]+)"),
]
# argv forms: program -> the options whose NEXT argument is a secret.
_SHORT_BEFORE = {"sshpass": {"-p"}, "redis-cli": {"-a"}}
_ATTACHED = {"sshpass": "-p", **dict.fromkeys(("mysql", "mysqldump", "mysqladmin"), "-p")}
# Secret options whose names rules.secrets does not know (redis-server --requirepass …), and
# last words that make a secret's name a setting about it (postgres password_encryption=…,
# docker login --password-stdin).
_SECRET_OPTIONS = {"requirepass", "masterauth"}
_SETTING_WORDS = {"ENCRYPTION", "STDIN", "PROMPT", "FD"}


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


def _reference(value: str) -> bool:
    bare = value.strip().strip("\"'")
    return not bare or bare.startswith(("$", "/run/secrets/", "<redacted")) or bare == MASK


def _hide(match: re.Match[str], prefix: int, value: int) -> str:
    if _reference(match.group(value)):
        return match.group(0)
    return match.group(prefix) + MASK + "".join(match.groups()[value:])


def _secret(name: str) -> bool:
    if name.lower() in _SECRET_OPTIONS:
        return True
    parts = words(name)
    return secret_name(name) and parts[-1] not in _SETTING_WORDS


def _hide_named(match: re.Match[str]) -> str:
    value = match.group(3)
    # `--password -h db`: the option prompts; what follows is the next option, not a value.
    if not _secret(match.group(2)) or (value.startswith("-") and "=" not in match.group(1)):
        return match.group(0)
    return _hide(match, 1, 3)


def redact_text(text: str) -> str:
    """A command line or shell string with every secret-looking value replaced by MASK."""
    text = _FLAG.sub(_hide_named, text)
    text = _ASSIGN.sub(_hide_named, text)
    for pattern in _SHORT:
        text = pattern.sub(lambda m: _hide(m, 1, 2), text)
    text = _AUTH_HEADER.sub(lambda m: _hide(m, 1, 2), text)
    return _URL_PASSWORD.sub(lambda m: _hide(m, 1, 2), text)


def _program(value: Any) -> str:
    return PurePosixPath(value).name if isinstance(value, str) else ""


def redact_argv(argv: Any, program: str | None = None) -> Any:
    """An exec-form command (Cmd, Entrypoint, Args): each argument redacted as text, and
    the argument after `--password`, `sshpass -p`, `redis-cli -a` hidden whole.

    program: the executable when argv holds only its arguments (a container's Path, Args).
    """
    if isinstance(argv, str):
        return redact_text(argv)
    if not isinstance(argv, list):
        return argv
    prog = _program(program if program is not None else (argv[0] if argv else ""))
    out: list[Any] = []
    hide_next = False
    for item in argv:
        if not isinstance(item, str):
            out.append(item)
            hide_next = False
            continue
        if hide_next and not _reference(item) and not item.startswith("-"):
            out.append(MASK)
        elif (attached := _ATTACHED.get(prog)) and item.startswith(attached) and len(item) > 2:
            out.append(attached + MASK)
        else:
            out.append(redact_text(item))
        flag = _FLAG_ALONE.match(item)
        hide_next = (flag is not None and _secret(flag.group(1))) or (
            item in _SHORT_BEFORE.get(prog, ())
        )
    return out


def secret_label_key(key: str) -> bool:
    """A label key whose value is hidden: a secret's name (rules.secrets), or one ending in
    KEY that does not say it is public (x.key, license-key; not gpg-key or public-key)."""
    parts = words(key)
    if secret_name(key):
        return True
    return bool(parts) and parts[-1] in {"KEY", "KEYS"} and not {"PUBLIC", "GPG"} & set(parts)


def redact_labels(labels: Any) -> Any:
    if not isinstance(labels, dict):
        return labels
    out = {}
    for key, value in labels.items():
        if isinstance(key, str) and isinstance(value, str):
            # Whole values under a key the rules judge by name (they still see one was
            # there); a URL's password alone elsewhere, so the rule still finds the URL.
            hidden = secret_name(key) or (secret_label_key(key) and not _URL_PASSWORD.search(value))
            value = (
                MASK
                if hidden and not _reference(value)
                else _URL_PASSWORD.sub(lambda m: _hide(m, 1, 2), value)
            )
        out[key] = value
    return out


def redact_config(config: Any, history_form: bool = False) -> None:
    """history_form: the legacy builder's ContainerConfig, whose Cmd is the build step
    (`/bin/sh -c #(nop) ENV …`), redacted as a history line."""
    if not isinstance(config, dict):
        return
    if "Env" in config:
        config["Env"], config["PostureEnvMeta"] = redact_env(config["Env"])
    for key in ("Cmd", "Entrypoint"):
        if key in config:
            if history_form and isinstance(config[key], list):
                config[key] = [
                    redact_history_line(v) if isinstance(v, str) else v for v in config[key]
                ]
            else:
                config[key] = redact_argv(config[key])
    if "Labels" in config:
        config["Labels"] = redact_labels(config["Labels"])
    if isinstance(config.get("OnBuild"), list):  # ONBUILD RUN … instructions, as in history
        config["OnBuild"] = [
            redact_history_line(v) if isinstance(v, str) else v for v in config["OnBuild"]
        ]
    check = config.get("Healthcheck")
    if isinstance(check, dict) and isinstance(check.get("Test"), list) and check["Test"]:
        kind, *rest = check["Test"]
        check["Test"] = [kind, *(redact_argv(rest) if kind == "CMD" else map(_text_or, rest))]


def _text_or(value: Any) -> Any:
    return redact_text(value) if isinstance(value, str) else value


def redact_history_line(created_by: str) -> str:
    match = _HISTORY_ENV.search(created_by)
    if not match:
        return redact_text(created_by)
    body = match.group(2)
    if "=" in body:
        body = _HISTORY_PAIR.sub(lambda m: f"{m.group(1)}={REDACTED}", body)
    else:  # legacy `ENV NAME value` form
        body = body.split(None, 1)[0] + f" {REDACTED}" if body.strip() else body
    return redact_text(created_by[: match.start(2)]) + body


def redact_container(inspect: dict[str, Any]) -> dict[str, Any]:
    redact_config(inspect.get("Config"))
    if "Args" in inspect:
        inspect["Args"] = redact_argv(inspect["Args"], program=_program(inspect.get("Path")))
    return inspect


def redact_image(inspect: dict[str, Any]) -> dict[str, Any]:
    redact_config(inspect.get("Config"))
    redact_config(inspect.get("ContainerConfig"), history_form=True)
    return inspect


def redact_history(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for layer in history:
        if isinstance(layer, dict) and isinstance(layer.get("CreatedBy"), str):
            layer["CreatedBy"] = redact_history_line(layer["CreatedBy"])
    return history
