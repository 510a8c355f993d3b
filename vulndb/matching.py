"""Which advisories affect which packages, by the OSV schema's evaluation rules.

Pure (no Django). https://ossf.github.io/osv-schema/#evaluation: a version is affected when
an entry lists it in `versions`, or when it falls in one of the entry's ECOSYSTEM or SEMVER
ranges: events sorted by version, each "introduced" opening the range up to the next event
("fixed" exclusive, "last_affected" inclusive), all below the range's highest "limit". GIT
ranges name commits, which an installed package does not have.

OS packages are matched by source package and source version within their exact release:
advisories name sources ("glibc" 2.36-9+deb12u3), not binaries ("libc6"), and Debian 12's
fixes say nothing about Debian 11.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from vulndb import versions
from vulndb.records import Affected

_PEP503 = re.compile(r"[-_.]+")
_MATCHABLE = frozenset({"ECOSYSTEM", "SEMVER"})
# Events at the same version: "introduced" first, so that introduced X with fixed X is empty
# and introduced X with last_affected X is X alone; "last_affected" last, since it takes
# effect only above its version. Then the events that take effect at a version v are a
# prefix of the sorted list, and v is affected when the last of them is an "introduced".
_ORDER = {"introduced": 0, "fixed": 1, "last_affected": 2}


class PackageLike(Protocol):
    @property
    def ecosystem(self) -> str: ...

    @property
    def match_name(self) -> str: ...

    @property
    def match_version(self) -> str: ...


@dataclass(frozen=True)
class Match:
    package_index: int  # into the packages given to match()
    advisory_id: str
    # The lowest fixed version above the installed one that the advisory does not affect
    # itself (another of its ranges may reopen at a fix); None: no fix yet.
    fixed_version: str | None


@lru_cache(maxsize=4096)
def release(ecosystem: str) -> str:
    """The ecosystem as packages and data both name it. Ubuntu's OSV data writes
    "Ubuntu:22.04:LTS" where an image says 22.04; "Ubuntu:Pro:..." stays apart, since only
    Ubuntu Pro (ESM) subscribers get those fixes."""
    if (
        ecosystem.startswith("Ubuntu:")
        and ecosystem.endswith(":LTS")
        and not ecosystem.startswith("Ubuntu:Pro:")
    ):
        return ecosystem[: -len(":LTS")]
    return ecosystem


@lru_cache(maxsize=1 << 16)
def normalise_name(ecosystem: str, name: str) -> str:
    """The name as the ecosystem compares names: PEP 503 for PyPI ("Requests",
    "zope_interface"), lower case for OS packages, as written for npm, Go and Maven."""
    fam = versions.family(ecosystem)
    if fam == "PyPI":
        return _PEP503.sub("-", name).lower()
    if fam in versions.OS_FAMILIES:
        return name.lower()
    return name


@dataclass(slots=True)
class _Entry:
    """One advisory's word on one package (all its affected entries for that package,
    merged), with versions already turned into sort keys."""

    advisory_id: str
    # (low, high, high is inclusive, limit): low None is "introduced 0"; high None, open.
    spans: tuple[tuple[Any, Any, bool, Any], ...]
    explicit: frozenset[Any] | tuple[Any, ...]  # keys; a tuple when the keys are unhashable
    explicit_raw: frozenset[str]  # versions listed that the ecosystem cannot parse
    fixed: tuple[tuple[Any, str], ...]  # sorted by key

    def affects(self, key: Any, raw: str) -> bool:
        for low, high, inclusive, limit in self.spans:
            if (
                (low is None or key >= low)
                and (high is None or key < high or (inclusive and key == high))
                and (limit is None or key < limit)
            ):
                return True
        return raw in self.explicit_raw or key in self.explicit

    def fix_above(self, key: Any) -> str | None:
        """The lowest fixed version above key that the advisory does not itself affect
        (another range may reopen above a fix)."""
        for fixed_key, fixed in self.fixed:
            if fixed_key > key and not self.affects(fixed_key, fixed):
                return fixed
        return None


@dataclass(slots=True)
class _Bucket:
    """Every advisory for one (release, package name), sorted for the shapes most records
    take. Debian's and Alpine's records are almost all "introduced 0, fixed X" or
    "introduced 0" alone: the first affect exactly the versions below X, so with their
    X sorted the affected ones are those after a bisection; the second affect every version.
    The rest are evaluated one by one."""

    fix_keys: list[Any]  # the X of "introduced 0, fixed X" advisories, sorted
    fix_hits: list[tuple[str, str]]  # (advisory id, X) in the same order
    unfixed: tuple[str, ...]  # advisory ids of "introduced 0" alone
    others: tuple[_Entry, ...]

    def hits(self, key: Any, raw: str) -> Iterable[tuple[str, str | None]]:
        yield from self.fix_hits[bisect_right(self.fix_keys, key) :]
        for advisory_id in self.unfixed:
            yield advisory_id, None
        for entry in self.others:
            if entry.affects(key, raw):
                yield entry.advisory_id, entry.fix_above(key)


_EMPTY = _Bucket([], [], (), ())


class _Unparseable(Exception):
    pass


@dataclass(slots=True)
class _Parts:
    spans: list[tuple[Any, Any, bool, Any]] = field(default_factory=list)
    fixed: dict[str, Any] = field(default_factory=dict)
    explicit: list[Any] = field(default_factory=list)
    explicit_raw: set[str] = field(default_factory=set)


def _key(fam: str, version: str) -> Any:
    k = versions._key(fam, version)
    if k is versions._INVALID:
        raise _Unparseable(version)
    return k


def _spans(events_in: Iterable[tuple[str, str]], fam: str, fixed: dict[str, Any]) -> list[Any]:
    events: list[tuple[Any, int, str]] = []
    limit: Any = None
    unlimited = False
    for kind, version in events_in:
        if kind == "limit":
            if version == "*":
                unlimited = True
            else:
                k = _key(fam, version)
                limit = k if limit is None or k > limit else limit
        elif kind == "introduced" and version == "0":
            events.append((None, 0, kind))
        elif kind in _ORDER:
            k = _key(fam, version)
            events.append((k, _ORDER[kind], kind))
            if kind == "fixed":
                fixed[version] = k
    events.sort(key=lambda e: (0,) if e[0] is None else (1, e[0], e[1]))
    limit = None if unlimited else limit
    spans = []
    opened = None  # the index of the "introduced" that opened the current span
    for i, (_, _, kind) in enumerate(events):
        if kind == "introduced":
            opened = i if opened is None else opened  # a second one changes nothing
        elif opened is not None:
            high, _, _ = events[i]
            spans.append((events[opened][0], high, kind == "last_affected", limit))
            opened = None
    if opened is not None:
        spans.append((events[opened][0], None, False, limit))
    return spans


def _add(parts: _Parts, affected: Affected, fam: str) -> bool:
    """Add one affected entry; False, and nothing added, when a range version does not
    parse: a range without one of its events would say something else."""
    spans: list[Any] = []
    fixed: dict[str, Any] = {}
    try:
        for rng in affected.ranges:
            if rng.type in _MATCHABLE:
                spans += _spans(rng.events, fam, fixed)
    except _Unparseable:
        return False
    parts.spans += spans
    parts.fixed.update(fixed)
    for version in affected.versions:
        k = versions._key(fam, version)
        if k is versions._INVALID:
            parts.explicit_raw.add(version)
        else:
            parts.explicit.append(k)
    return True


def _entry(advisory_id: str, parts: _Parts) -> _Entry:
    explicit: frozenset[Any] | tuple[Any, ...]
    try:
        explicit = frozenset(parts.explicit)
    except TypeError:  # univers' Alpine versions do not hash
        explicit = tuple(parts.explicit)
    return _Entry(
        advisory_id=advisory_id,
        spans=tuple(parts.spans),
        explicit=explicit,
        explicit_raw=frozenset(parts.explicit_raw),
        fixed=tuple(sorted(((k, v) for v, k in parts.fixed.items()), key=lambda f: f[0])),
    )


def _bucket(raw: list[tuple[str, Affected]], fam: str) -> tuple[_Bucket, int]:
    """The bucket, and how many entries were skipped for versions that do not parse."""
    by_advisory: dict[str, _Parts] = {}
    skipped = 0
    for advisory_id, affected in raw:
        if not _add(by_advisory.setdefault(advisory_id, _Parts()), affected, fam):
            skipped += 1
    fixes: list[tuple[Any, str, str]] = []
    unfixed: list[str] = []
    others: list[_Entry] = []
    for advisory_id, parts in by_advisory.items():
        if parts.explicit or parts.explicit_raw:
            others.append(_entry(advisory_id, parts))
        elif not parts.spans:
            continue  # only GIT ranges, or nothing that parsed
        elif parts.spans == [(None, None, False, None)] and not parts.fixed:
            unfixed.append(advisory_id)
        elif len(parts.spans) == 1 and len(parts.fixed) == 1:
            low, high, inclusive, limit = parts.spans[0]
            ((version, key),) = parts.fixed.items()
            if low is None and not inclusive and limit is None and high == key:
                fixes.append((key, advisory_id, version))
            else:
                others.append(_entry(advisory_id, parts))
        else:
            others.append(_entry(advisory_id, parts))
    fixes.sort(key=lambda f: f[0])
    bucket = _Bucket(
        fix_keys=[f[0] for f in fixes],
        fix_hits=[(f[1], f[2]) for f in fixes],
        unfixed=tuple(unfixed),
        others=tuple(others),
    )
    return bucket, skipped


class Index:
    """The advisories of a data import, by (release, normalised name). Built once per data
    version and shared by every match(); each package's bucket is compiled on first use, so
    building costs a dict insert per entry, and packages no image has never cost more."""

    def __init__(self, entries: Iterable[tuple[str, Affected]]) -> None:
        self._raw: dict[tuple[str, str], list[tuple[str, Affected]]] = {}
        self._compiled: dict[tuple[str, str], _Bucket] = {}
        self.entries = 0
        self.unsupported = 0  # entries of an ecosystem Posture has no version rules for
        self.skipped = 0  # compiled entries dropped: a version in a range did not parse
        for advisory_id, affected in entries:
            if not versions.supported(affected.ecosystem):
                self.unsupported += 1
                continue
            eco = release(affected.ecosystem)
            name = normalise_name(eco, affected.name)
            self._raw.setdefault((eco, name), []).append((advisory_id, affected))
            self.entries += 1

    def __len__(self) -> int:
        return self.entries

    def _lookup(self, ecosystem: str, name: str) -> _Bucket:
        eco = release(ecosystem)
        where = (eco, normalise_name(eco, name))
        bucket = self._compiled.get(where)
        if bucket is None:
            raw = self._raw.get(where)
            if raw is None:
                return _EMPTY
            # Two threads may compile one bucket at once: both get the same result and the
            # last assignment wins (skipped may count twice), so no lock on the hot path.
            bucket, skipped = _bucket(raw, versions.family(eco))
            self.skipped += skipped
            self._compiled[where] = bucket
            # The records are not needed again; where the index held the last reference,
            # their memory goes back.
            self._raw.pop(where, None)
        return bucket

    def warm(self) -> None:
        """Compile every bucket now, e.g. so that skipped counts the whole data."""
        for eco, name in list(self._raw):
            self._lookup(eco, name)

    @property
    def buckets(self) -> int:
        return len(self._raw.keys() | self._compiled.keys())


def match(packages: Sequence[PackageLike], index: Index) -> list[Match]:
    """Every (package, advisory) where the advisory affects the package, once, in the
    packages' order. A version its ecosystem cannot parse matches only where an advisory
    lists it, literally, among its affected versions."""
    found: list[Match] = []
    # The binaries of one source (libc6, libc-bin, locales: glibc) share its name and version,
    # so their hits are the same: an image of 1,300 dpkg packages has ~450 sources.
    hits_of: dict[tuple[int, str], list[tuple[str, str | None]]] = {}
    for position, package in enumerate(packages):
        ecosystem = package.ecosystem
        bucket = index._lookup(ecosystem, package.match_name)
        if bucket is _EMPTY:
            continue
        raw = package.match_version
        hits = hits_of.get((id(bucket), raw))
        if hits is None:
            key = versions._key(versions.family(ecosystem), raw)
            if key is versions._INVALID:
                # Only the schema's literal "versions" can name what does not parse.
                hits = [(e.advisory_id, None) for e in bucket.others if raw in e.explicit_raw]
            else:
                hits = list(bucket.hits(key, raw))
            hits_of[id(bucket), raw] = hits
        found += [Match(position, adv, fixed) for adv, fixed in hits]
    return found
