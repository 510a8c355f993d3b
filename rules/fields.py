"""Typed readers over inspect JSON for the rule modules.

Each reader returns the value in the expected type, or an UNKNOWN result naming the field
when it is absent or of the wrong type, so a rule never crashes on odd data and never
mistakes "the daemon did not say" for "unset". A JSON null is the daemon saying "unset"
and is read as the type's empty value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from rules.base import MISSING, Result, dig, unknown
from rules.facts import ContainerFacts

NO_DAEMON_INFO = "the daemon's /info SecurityOptions are not available for this host"
TRUTHY = {"1", "t", "true"}  # the spellings Go's strconv.ParseBool reads as true
T = TypeVar("T")

# (what, id(source)) -> (source, value); None outside engine.evaluate.
_MEMO: ContextVar[dict[tuple[str, int], tuple[Any, Any]] | None] = ContextVar(
    "posture_rules_memo", default=None
)


@contextmanager
def memoised() -> Iterator[None]:
    """Let once() keep what it computes until the block ends.

    Container rules read the daemon's /info and /version through helpers (parsed
    SecurityOptions, the engine's kind): without this, each is worked out again for every
    container by several rules. The facts do not change while one evaluate() runs.
    """
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def once(what: str, source: object, compute: Callable[[], T]) -> T:
    """compute(), a pure function of source, computed once per memoised() block."""
    memo = _MEMO.get()
    if memo is None:
        return compute()
    key = (what, id(source))
    hit = memo.get(key)
    # The source is kept in the entry, so its id cannot be reused while the entry lives.
    if hit is None or hit[0] is not source:
        hit = memo[key] = (source, compute())
    return hit[1]  # type: ignore[no-any-return]


def absent(path: str) -> Result:
    return unknown(f"{path} is absent from the data the daemon returned")


def malformed(path: str, expected: str) -> Result:
    return unknown(f"{path} is not {expected}")


def strings(data: Any, path: str) -> list[str] | Result:
    value = dig(data, path)
    if value is MISSING:
        return absent(path)
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return malformed(path, "a list of strings")


def records(data: Any, path: str) -> list[dict[str, Any]] | Result:
    value = dig(data, path)
    if value is MISSING:
        return absent(path)
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return list(value)
    return malformed(path, "a list of objects")


def flag(data: Any, path: str) -> bool | Result:
    value = dig(data, path)
    if value is MISSING:
        return absent(path)
    if isinstance(value, bool):
        return value
    return malformed(path, "true or false")


def number(data: Any, path: str) -> int | Result:
    """An integer field; null reads as 0, which inspect uses for "no limit"."""
    value = dig(data, path)
    if value is MISSING:
        return absent(path)
    if value is None:
        return 0
    # bool is an int in Python but never a valid count in inspect output.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return malformed(path, "an integer")


def text(data: Any, path: str) -> str | Result:
    value = dig(data, path)
    if value is MISSING:
        return absent(path)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return malformed(path, "a string")


def security_options(entries: list[str]) -> dict[str, str]:
    """Parse HostConfig.SecurityOpt into {key: value}.

    Docker accepts both `key=value` and the deprecated `key:value`; a bare
    `no-new-privileges` means true. The separator is whichever comes first, since a
    seccomp profile is passed inline as JSON (`seccomp={"defaultAction": ...}`).
    """
    parsed: dict[str, str] = {}
    for entry in entries:
        cuts = [i for i in (entry.find("="), entry.find(":")) if i >= 0]
        if not cuts:
            parsed[entry.strip().lower()] = "true"
            continue
        cut = min(cuts)
        parsed[entry[:cut].strip().lower()] = entry[cut + 1 :].strip()
    return parsed


def daemon_security_options(info: Any) -> dict[str, dict[str, str]] | Result:
    """Parse /info SecurityOptions ("name=seccomp,profile=default") into {name: {k: v}}."""
    entries = strings(info, "SecurityOptions")
    if isinstance(entries, Result):
        return entries
    parsed: dict[str, dict[str, str]] = {}
    for entry in entries:
        pairs = {key: value for key, _, value in (p.partition("=") for p in entry.split(","))}
        if "name" in pairs:
            parsed[pairs["name"].lower()] = pairs
    return parsed


def root_user(spec: str) -> bool:
    """Whether a USER spec ("", "0", "root", "0:0", "root:staff", "app") means UID 0.

    Empty means root: Docker falls back to the image's USER, and copies that into the
    container's Config.User at create time, so an empty value there is root.
    """
    name = spec.strip().partition(":")[0].strip()
    return name in {"", "root"} or (name.isdigit() and int(name) == 0)


def daemon_options(c: ContainerFacts) -> dict[str, dict[str, str]] | None:
    """The container's daemon's parsed SecurityOptions; None when they are not known."""
    if c.host is None:
        return None
    info = c.host.info
    parsed = once("daemon_security_options", info, lambda: daemon_security_options(info))
    return None if isinstance(parsed, Result) else parsed
