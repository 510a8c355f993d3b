"""Version order per OSV ecosystem, on the libraries each ecosystem's tools agree with.

Pure (no Django). An ecosystem string may carry a release after a colon ("Debian:12",
"Alpine:v3.20"); the order depends on the family alone. Versions come from images and
vulnerability files, both untrusted: anything a library refuses, or anything too long to be a
version, raises InvalidVersion.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import semver
from debian.debian_support import Version as DebianVersion
from packaging.version import InvalidVersion as Pep440Invalid
from packaging.version import Version as Pep440Version
from univers.versions import AlpineLinuxVersion, MavenVersion

# Longer than any real version in Debian, Alpine, PyPI or npm data; a bound on the work one
# hostile string can cost (digit runs become ints, and the key is cached).
MAX_VERSION_LENGTH = 256

DEBIAN_FAMILIES = frozenset({"Debian", "Ubuntu"})
OS_FAMILIES = DEBIAN_FAMILIES | {"Alpine"}
SUPPORTED = OS_FAMILIES | {"PyPI", "npm", "Maven", "Go"}


class InvalidVersion(ValueError):
    """A version string the ecosystem's rules cannot order."""


@lru_cache(maxsize=256)
def family(ecosystem: str) -> str:
    """ "Debian:12" -> "Debian"; an ecosystem without a release is its own family."""
    return ecosystem.partition(":")[0]


def supported(ecosystem: str) -> bool:
    return family(ecosystem) in SUPPORTED


def sort_key(ecosystem: str, version: str) -> Any:
    """A key that orders versions of one family as the ecosystem does; keys of different
    families must not be compared with each other."""
    key = _key(family(ecosystem), version)
    if key is _INVALID:
        raise InvalidVersion(f"not a {family(ecosystem)} version: {version[:80]!r}")
    return key


def compare(ecosystem: str, a: str, b: str) -> int:
    """-1, 0 or 1 as a is lower than, equal to or higher than b."""
    ka, kb = sort_key(ecosystem, a), sort_key(ecosystem, b)
    return (ka > kb) - (ka < kb)


_INVALID = object()


# Sized for the distinct versions of a full OSV import (fixed versions recur across the
# advisories of one package) plus a fleet's inventories; failures are cached too, as the
# sentinel, so a hostile version that recurs costs one parse.
@lru_cache(maxsize=1 << 17)
def _key(fam: str, version: str) -> Any:
    if not isinstance(version, str) or not version or len(version) > MAX_VERSION_LENGTH:
        return _INVALID
    parse = _PARSERS.get(fam)
    if parse is None:
        return _INVALID
    try:
        return parse(version)
    except (ValueError, TypeError, ArithmeticError):
        # The libraries raise their own ValueError subclasses (packaging, univers, semver,
        # python-debian) and the odd TypeError on input they did not expect.
        return _INVALID


# --- Debian and Ubuntu -------------------------------------------------------------------
#
# python-debian's Version compares in pure Python, re-splitting both strings on every
# comparison: 18 us per comparison against 0.1 us for comparing two tuples (measured with
# timeit on this machine, "1:2.36-9+deb12u3"). Matching compares each installed version with
# every range of every advisory for its package, so the library parses and validates here and
# the order is taken into a tuple once. tests/vulndb/test_versions.py checks the tuple order
# against python-debian's on 10,000 generated pairs.

_DEBIAN_RUNS = re.compile(r"(\D*)(\d*)")
# dpkg's verrevcmp: '~' sorts before the end of a string, letters before other characters.
_TILDE, _END = -1, 0
# A part that ends here: an empty non-digit run and a zero, which is what dpkg compares a
# shorter part's missing tail with.
_DEBIAN_TAIL = ((_END,), 0)


def _debian_char(c: str) -> int:
    if c == "~":
        return _TILDE
    return ord(c) if c.isalpha() else ord(c) + 256


def _debian_part(part: str) -> tuple[tuple[tuple[int, ...], int], ...]:
    runs = []
    for letters, digits in _DEBIAN_RUNS.findall(part):
        if not letters and not digits:
            continue
        runs.append((tuple(map(_debian_char, letters)) + (_END,), int(digits or 0)))
    # Every run but the first has letters, so none but the first can equal the tail: a part
    # that is a prefix of another compares its tail with the other's next run, as dpkg does.
    runs.append(_DEBIAN_TAIL)
    return tuple(runs)


def _debian(version: str) -> tuple[Any, ...]:
    parsed = DebianVersion(version)  # validates, and splits epoch and revision as dpkg does
    return (
        int(parsed.epoch or 0),
        _debian_part(parsed.upstream_version or "0"),
        _debian_part(parsed.debian_revision or "0"),
    )


# --- the others: each library's own comparable objects -----------------------------------

_LOOSE_PREFIX = re.compile(r"^[v=]")


def _semver(version: str) -> semver.Version:
    # npm and Go both write "v1.2.3" in places (npm ranges, Go module versions); OSV data
    # writes "1.2.3". Build metadata ("+incompatible") does not take part in the order.
    return semver.Version.parse(_LOOSE_PREFIX.sub("", version.strip(), count=1))


def _pep440(version: str) -> Pep440Version:
    try:
        return Pep440Version(version)
    except Pep440Invalid as exc:
        raise ValueError(str(exc)) from exc


def _alpine(version: str) -> AlpineLinuxVersion:
    return AlpineLinuxVersion(version)


_MAVEN_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def _maven(version: str) -> MavenVersion:
    # univers accepts anything, even "" and "x y": keep to what Maven coordinates hold.
    if not _MAVEN_SHAPE.match(version):
        raise ValueError(version)
    return MavenVersion(version)


_PARSERS = {
    "Debian": _debian,
    "Ubuntu": _debian,
    "Alpine": _alpine,
    "PyPI": _pep440,
    "npm": _semver,
    "Go": _semver,
    "Maven": _maven,
}
