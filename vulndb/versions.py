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
    if (
        not isinstance(version, str)
        or not version
        or len(version) > MAX_VERSION_LENGTH
        or not version.isascii()
        or not version.isprintable()
        or " " in version
    ):
        # No ecosystem writes spaces or control characters in a version; refusing them here
        # also spares the grammars their edge cases ("$" matches before a final newline).
        return _INVALID
    parse = _PARSERS.get(fam)
    if parse is None:
        return _INVALID
    try:
        return parse(version)
    except (ValueError, TypeError, ArithmeticError):
        # The libraries raise their own ValueError subclasses (packaging, univers, semver)
        # and the odd TypeError on input they did not expect.
        return _INVALID


# --- Debian and Ubuntu -------------------------------------------------------------------
#
# python-debian's Version compares in pure Python, re-splitting both strings on every
# comparison: 18 us per comparison against 0.1 us for two tuples, and building a Version
# costs ~10 us more than matching its grammar, in its __setattr__ (timeit on this machine,
# "1:2.36-9+deb12u3"). Matching compares each installed version with the ranges of every
# advisory for its package, and a full import holds ~100,000 Debian versions, so the
# library's own grammar (Version.re_valid_version) splits the string and dpkg's order is
# taken into a tuple once. tests/vulndb/test_versions.py checks the tuple order against
# python-debian's on 10,000 generated pairs.

_DEBIAN_GRAMMAR = DebianVersion.re_valid_version
_DEBIAN_RUNS = re.compile(r"(\D*)(\d*)")
# dpkg's verrevcmp: '~' sorts before the end of a string, letters before other characters.
_TILDE, _END = -1, 0
_DEBIAN_CHAR = {c: ord(c) if c.isalpha() else ord(c) + 256 for c in map(chr, range(33, 127))}
_DEBIAN_CHAR["~"] = _TILDE


def _debian_part(part: str) -> list[int]:
    """dpkg compares a part run by run: the characters before a digit, then the number.
    Flattened, each run is its characters' orders, _END, then its number: where one run's
    characters end first, its _END meets the other's character (never _END), which decides
    as dpkg does; runs of equal characters stay aligned. A part ends with an empty run and
    a zero, what dpkg compares a shorter part's missing runs with (every run but the first
    has characters, so this tail never ties with a real run)."""
    flat: list[int] = []
    for letters, digits in _DEBIAN_RUNS.findall(part):
        if letters or digits:
            flat += map(_DEBIAN_CHAR.__getitem__, letters)
            flat += (_END, int(digits or 0))
    flat += (_END, 0)
    return flat


def _debian(version: str) -> tuple[int, ...]:
    found = _DEBIAN_GRAMMAR.match(version)
    # As python-debian: without an epoch, the upstream version holds no colon.
    if not found or (found["epoch"] is None and ":" in found["upstream_version"]):
        raise ValueError(version)
    # One flat tuple of small ints: compared element by element in C, and a third of the
    # memory of nested tuples (a full import holds ~100,000 of these).
    return (
        int(found["epoch"] or 0),
        *_debian_part(found["upstream_version"] or "0"),
        *_debian_part(found["debian_revision"] or "0"),
    )


# --- npm and Go: SemVer 2.0 ----------------------------------------------------------------
#
# semver.Version compares in 1.3 us, a tuple in 0.1 us (timeit, "4.17.21-beta.1"); an npm
# advisory is a range with two ends, so a package is compared with both ends of each of its
# advisories. The library parses and validates; its precedence becomes a tuple: a release
# sorts after its prereleases, numeric identifiers compare as numbers and before alphanumeric
# ones, a longer prerelease after its prefix, build metadata not at all. Cross-checked against
# semver.Version.compare on 10,000 generated pairs in tests/vulndb/test_versions.py.

_LOOSE_PREFIX = re.compile(r"^[v=]")


def _semver(version: str) -> tuple[Any, ...]:
    # npm and Go both write "v1.2.3" in places (npm ranges, Go module versions); OSV data
    # writes "1.2.3".
    parsed = semver.Version.parse(_LOOSE_PREFIX.sub("", version, count=1))
    if parsed.prerelease is None:
        return (parsed.major, parsed.minor, parsed.patch, 1, ())
    identifiers = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in parsed.prerelease.split(".")
    )
    return (parsed.major, parsed.minor, parsed.patch, 0, identifiers)


# --- the others: each library's own comparable objects -----------------------------------


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
