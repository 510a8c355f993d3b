"""OSV's evaluation rules, matching by source package within the exact release, and real
advisories (their facts in our own words) against installed packages."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import FUZZ, hostile_text
from tests.vulndb.test_osv import lodash, looney_tunables, requests_leak
from vulndb import versions
from vulndb.matching import Index, Match, match, normalise_name, release
from vulndb.osv import parse_osv
from vulndb.records import Affected, Range
from vulns.packages import Package


def ranges(*events: tuple[str, str], kind: str = "ECOSYSTEM") -> tuple[Range, ...]:
    return (Range(kind, events),)


def affected_versions(affected: Affected, candidates: list[str]) -> list[str]:
    index = Index([("OSV-TEST", affected)])
    packages = [Package(affected.ecosystem, affected.name, v) for v in candidates]
    return [candidates[m.package_index] for m in match(packages, index)]


def fixes(affected: Affected, candidates: list[str]) -> dict[str, str | None]:
    index = Index([("OSV-TEST", affected)])
    packages = [Package(affected.ecosystem, affected.name, v) for v in candidates]
    return {candidates[m.package_index]: m.fixed_version for m in match(packages, index)}


VERSIONS = ["0.1.0", "1.0.0", "1.5.0", "2.0.0", "2.5.0", "3.0.0", "3.5.0", "4.0.0"]


# --- OSV semantics ------------------------------------------------------------------------


def test_introduced_zero_is_from_the_beginning_and_fixed_is_exclusive():
    entry = Affected("npm", "p", ranges(("introduced", "0"), ("fixed", "2.0.0"), kind="SEMVER"))
    assert affected_versions(entry, VERSIONS) == ["0.1.0", "1.0.0", "1.5.0"]
    assert set(fixes(entry, VERSIONS).values()) == {"2.0.0"}


def test_introduced_is_inclusive():
    entry = Affected("npm", "p", ranges(("introduced", "1.5.0"), ("fixed", "3.0.0")))
    assert affected_versions(entry, VERSIONS) == ["1.5.0", "2.0.0", "2.5.0"]


def test_no_fix_affects_every_later_version():
    entry = Affected("npm", "p", ranges(("introduced", "2.0.0")))
    assert affected_versions(entry, VERSIONS) == VERSIONS[3:]
    assert set(fixes(entry, VERSIONS).values()) == {None}


def test_last_affected_is_inclusive_and_names_no_fix():
    entry = Affected("npm", "p", ranges(("introduced", "1.0.0"), ("last_affected", "2.0.0")))
    assert affected_versions(entry, VERSIONS) == ["1.0.0", "1.5.0", "2.0.0"]
    assert set(fixes(entry, VERSIONS).values()) == {None}


def test_limit_caps_the_range():
    entry = Affected("npm", "p", ranges(("introduced", "0"), ("limit", "2.0.0")))
    assert affected_versions(entry, VERSIONS) == ["0.1.0", "1.0.0", "1.5.0"]
    two = Affected("npm", "p", ranges(("introduced", "0"), ("limit", "1.0.0"), ("limit", "3.0.0")))
    assert affected_versions(two, VERSIONS) == VERSIONS[:5]  # below any limit
    star = Affected("npm", "p", ranges(("introduced", "3.0.0"), ("limit", "*")))
    assert affected_versions(star, VERSIONS) == VERSIONS[5:]


def test_several_ranges_and_reintroduction():
    # Introduced in 1.0.0, fixed in 2.0.0, broken again in 3.0.0, fixed in 3.5.0; and a
    # second range for an old branch.
    entry = Affected(
        "npm",
        "p",
        (
            Range(
                "SEMVER",
                (
                    ("introduced", "1.0.0"),
                    ("fixed", "2.0.0"),
                    ("introduced", "3.0.0"),
                    ("fixed", "3.5.0"),
                ),
            ),
            Range("SEMVER", (("introduced", "0.1.0"), ("fixed", "0.2.0"))),
        ),
    )
    assert fixes(entry, VERSIONS) == {
        "0.1.0": "0.2.0",
        "1.0.0": "2.0.0",
        "1.5.0": "2.0.0",
        "3.0.0": "3.5.0",
    }


def test_the_fix_offered_is_not_itself_affected():
    # 2.0.0 fixes the first range but the second reopens at 2.0.0: the first version out of
    # both is 2.5.0.
    entry = Affected(
        "npm",
        "p",
        (
            Range("SEMVER", (("introduced", "0"), ("fixed", "2.0.0"))),
            Range("SEMVER", (("introduced", "2.0.0"), ("fixed", "2.5.0"))),
        ),
    )
    assert fixes(entry, ["1.0.0", "2.0.0", "2.5.0"]) == {"1.0.0": "2.5.0", "2.0.0": "2.5.0"}


def test_events_are_sorted_by_version_not_taken_in_record_order():
    entry = Affected("npm", "p", ranges(("fixed", "3.0.0"), ("introduced", "2.0.0")))
    assert affected_versions(entry, VERSIONS) == ["2.0.0", "2.5.0"]


def test_events_at_one_version():
    empty = Affected("npm", "p", ranges(("introduced", "2.0.0"), ("fixed", "2.0.0")))
    assert affected_versions(empty, VERSIONS) == []
    single = Affected("npm", "p", ranges(("introduced", "2.0.0"), ("last_affected", "2.0.0")))
    assert affected_versions(single, VERSIONS) == ["2.0.0"]


def test_explicit_versions():
    entry = Affected("PyPI", "p", (), ("1.0", "2.5.0", "not pep 440 but listed"))
    assert affected_versions(entry, ["1.0.0", "2.5", "2.6", "not pep 440 but listed"]) == [
        "1.0.0",  # equal under PEP 440
        "2.5",
        "not pep 440 but listed",
    ]


def test_git_ranges_are_ignored():
    entry = Affected("npm", "p", (Range("GIT", (("introduced", "0"), ("fixed", "a" * 40))),))
    assert affected_versions(entry, VERSIONS) == []


def test_an_entry_whose_range_does_not_parse_is_skipped_and_counted():
    index = Index(
        [
            ("GHSA-bad", Affected("npm", "p", ranges(("introduced", "0"), ("fixed", "v2 final")))),
            ("GHSA-good", Affected("npm", "p", ranges(("introduced", "0"), ("fixed", "2.0.0")))),
            ("GHSA-rust", Affected("crates.io", "p", ranges(("introduced", "0")))),
        ]
    )
    found = match([Package("npm", "p", "1.0.0")], index)
    assert [m.advisory_id for m in found] == ["GHSA-good"]
    assert (len(index), index.skipped, index.unsupported) == (2, 1, 1)


def test_an_installed_version_that_does_not_parse_matches_nothing():
    index = Index([("GHSA-x", Affected("npm", "p", ranges(("introduced", "0"))))])
    assert match([Package("npm", "p", "latest"), Package("npm", "p", "")], index) == []


def test_one_advisory_matches_a_package_once():
    index = Index(
        [
            ("GHSA-x", Affected("npm", "p", ranges(("introduced", "0"), ("fixed", "2.0.0")))),
            ("GHSA-x", Affected("npm", "p", ranges(("introduced", "1.0.0"), ("fixed", "1.5.0")))),
        ]
    )
    # 1.5.0 ends the second range but is still in the first: the fix is 2.0.0.
    assert match([Package("npm", "p", "1.2.0")], index) == [Match(0, "GHSA-x", "2.0.0")]


# --- names and releases -------------------------------------------------------------------


def test_normalise_name():
    assert normalise_name("PyPI", "Zope.Interface") == "zope-interface"
    assert normalise_name("PyPI", "typing__extensions") == "typing-extensions"
    assert normalise_name("Debian:12", "GLibc") == "glibc"
    assert normalise_name("Alpine:v3.20", "OpenSSL") == "openssl"
    assert normalise_name("npm", "JSONStream") == "JSONStream"
    assert normalise_name("Maven", "org.Apache:Log4j") == "org.Apache:Log4j"


def test_release():
    assert release("Ubuntu:22.04:LTS") == "Ubuntu:22.04"
    assert release("Ubuntu:Pro:18.04:LTS") == "Ubuntu:Pro:18.04:LTS"
    assert release("Debian:12") == "Debian:12"


def test_pypi_names_match_as_pep_503_normalises_them():
    index = Index([parse_osv_entry(requests_leak())])
    found = match(
        [Package("PyPI", "Requests", "2.28.1"), Package("PyPI", "REQUESTS", "2.31.0")], index
    )
    assert found == [Match(0, "GHSA-j8r2-6x86-q33q", "2.31.0")]


def test_the_release_must_be_the_same():
    index = Index([parse_osv_entry(looney_tunables())])
    # CVE-2023-4911 came with glibc 2.34: Debian 11's 2.31 never had it, and Debian 12's data
    # says nothing about Debian 11.
    bullseye = Package("Debian:11", "libc6", "2.31-13+deb11u6", "glibc", "2.31-13+deb11u6")
    bookworm = Package("Debian:12", "libc6", "2.36-9+deb12u1", "glibc", "2.36-9+deb12u1")
    assert match([bullseye, bookworm], index) == [
        Match(1, "DEBIAN-CVE-2023-4911", "2.36-9+deb12u3")
    ]


def test_ubuntu_lts_data_matches_the_release():
    entry = Affected(
        "Ubuntu:22.04:LTS", "openssl", ranges(("introduced", "0"), ("fixed", "3.0.2-0ubuntu1.10"))
    )
    index = Index([("UBUNTU-CVE-2023-0464", entry)])
    found = match(
        [Package("Ubuntu:22.04", "libssl3", "3.0.2-0ubuntu1.8", "openssl", "3.0.2-0ubuntu1.8")],
        index,
    )
    assert found == [Match(0, "UBUNTU-CVE-2023-0464", "3.0.2-0ubuntu1.10")]


# --- source, not binary -------------------------------------------------------------------


def test_binaries_match_by_their_source():
    index = Index([parse_osv_entry(looney_tunables())])
    packages = [
        Package("Debian:12", "libc6", "2.36-9+deb12u1", "glibc", "2.36-9+deb12u1"),
        Package("Debian:12", "libc-bin", "2.36-9+deb12u1", "glibc", "2.36-9+deb12u1"),
        Package("Debian:12", "libc6", "2.36-9+deb12u3", "glibc", "2.36-9+deb12u3"),
        Package("Debian:12", "glibc", "2.36-9+deb12u1"),  # no source field: its own name
    ]
    assert [m.package_index for m in match(packages, index)] == [0, 1, 3]


def test_a_binnmu_is_matched_by_its_source_version():
    # The advisory's last affected version is the source's 1.2-3; the binNMU binary 1.2-3+b1
    # sorts above it and would be missed.
    index = Index(
        [
            (
                "DEBIAN-CVE-2099-1",
                Affected(
                    "Debian:12", "zlib", ranges(("introduced", "0"), ("last_affected", "1.2-3"))
                ),
            )
        ]
    )
    binnmu = Package("Debian:12", "zlib1g", "1.2-3+b1", "zlib", "1.2-3")
    assert match([binnmu], index) == [Match(0, "DEBIAN-CVE-2099-1", None)]


def test_a_binary_epoch_its_source_lacks_does_not_hide_the_match():
    index = Index(
        [
            (
                "DEBIAN-CVE-2099-2",
                Affected("Debian:12", "pam", ranges(("introduced", "0"), ("fixed", "1.5.2-7"))),
            )
        ]
    )
    binary = Package("Debian:12", "libpam0g", "1:1.5.2-6", "pam", "1.5.2-6")
    assert match([binary], index) == [Match(0, "DEBIAN-CVE-2099-2", "1.5.2-7")]


# --- real advisories ----------------------------------------------------------------------


def parse_osv_entry(doc: dict) -> tuple[str, Affected]:
    advisory = parse_osv(doc)
    return advisory.id, advisory.affected[0]


def test_lodash_before_and_after_its_fix():
    index = Index([parse_osv_entry(lodash())])
    packages = [
        Package("npm", "lodash", v) for v in ("4.17.20", "4.17.21", "4.17.21-beta.1", "5.0.0")
    ]
    found = match(packages, index)
    assert found == [
        Match(0, "GHSA-35jh-r3h4-6jhm", "4.17.21"),
        Match(2, "GHSA-35jh-r3h4-6jhm", "4.17.21"),
    ]


def test_requests_from_2_3_0_until_2_31_0():
    _, entry = parse_osv_entry(requests_leak())
    candidates = ["2.2.1", "2.3.0", "2.30.0", "2.31.0rc1", "2.31.0", "2.31.0.post1"]
    assert affected_versions(entry, candidates) == ["2.3.0", "2.30.0", "2.31.0rc1"]


def test_alpine_openssl_fix_with_a_revision():
    # CVE-2022-3996 (an X.509 policy-check lock leak): Alpine 3.17 fixed openssl in 3.0.7-r2.
    entry = Affected("Alpine:v3.17", "openssl", ranges(("introduced", "0"), ("fixed", "3.0.7-r2")))
    index = Index([("ALPINE-CVE-2022-3996", entry)])
    packages = [
        Package("Alpine:v3.17", "libssl3", "3.0.7-r0", "openssl", "3.0.7-r0"),
        Package("Alpine:v3.17", "libcrypto3", "3.0.7-r1", "openssl", "3.0.7-r1"),
        Package("Alpine:v3.17", "libssl3", "3.0.7-r2", "openssl", "3.0.7-r2"),
        Package("Alpine:v3.17", "openssl", "3.0.8-r0"),
        Package("Alpine:v3.16", "libssl1.1", "1.1.1s-r0", "openssl", "1.1.1s-r0"),
    ]
    assert match(packages, index) == [
        Match(0, "ALPINE-CVE-2022-3996", "3.0.7-r2"),
        Match(1, "ALPINE-CVE-2022-3996", "3.0.7-r2"),
    ]


def test_maven_and_go():
    index = Index(
        [
            # CVE-2021-44228 (Log4Shell): log4j-core from 2.0-beta9, fixed for 2.x in 2.15.0.
            (
                "GHSA-jfh8-c2jp-5v3q",
                Affected(
                    "Maven",
                    "org.apache.logging.log4j:log4j-core",
                    ranges(("introduced", "2.0-beta9"), ("fixed", "2.15.0")),
                ),
            ),
            # CVE-2022-32149: golang.org/x/text's language parsing, fixed in 0.3.8.
            (
                "GO-2022-1059",
                Affected(
                    "Go",
                    "golang.org/x/text",
                    ranges(("introduced", "0"), ("fixed", "0.3.8"), kind="SEMVER"),
                ),
            ),
        ]
    )
    packages = [
        Package("Maven", "org.apache.logging.log4j:log4j-core", "2.14.1"),
        Package("Maven", "org.apache.logging.log4j:log4j-core", "2.17.1"),
        Package("Go", "golang.org/x/text", "v0.3.7"),
        Package("Go", "golang.org/x/text", "v0.14.0"),
    ]
    assert match(packages, index) == [
        Match(0, "GHSA-jfh8-c2jp-5v3q", "2.15.0"),
        Match(2, "GO-2022-1059", "0.3.8"),
    ]


# --- against the schema's pseudo-code, written out literally --------------------------------


def is_vulnerable(ecosystem: str, v: str, affected: Affected) -> bool:
    """https://ossf.github.io/osv-schema/#evaluation, transcribed."""

    def cmp(a: str, b: str) -> int:
        return versions.compare(ecosystem, a, b)

    order = {"introduced": 0, "fixed": 1, "last_affected": 2, "limit": 3}

    def key(event: tuple[str, str]) -> tuple[int, object, int]:
        kind, value = event
        if kind == "introduced" and value == "0":
            return (0, 0, 0)
        return (1, versions.sort_key(ecosystem, value), order[kind])

    if any(cmp(v, listed) == 0 for listed in affected.versions):
        return True
    for rng in affected.ranges:
        limits = [value for kind, value in rng.events if kind == "limit"]
        if limits and not any(cmp(v, limit) < 0 for limit in limits):
            continue
        vulnerable = False
        for kind, value in sorted(rng.events, key=key):
            if kind == "introduced" and (value == "0" or cmp(v, value) >= 0):
                vulnerable = True
            elif kind == "fixed" and cmp(v, value) >= 0:  # noqa: SIM114 (the spec's lines)
                vulnerable = False
            elif kind == "last_affected" and cmp(v, value) > 0:
                vulnerable = False
        if vulnerable:
            return True
    return False


_npm = st.builds("{}.{}.{}".format, st.integers(0, 3), st.integers(0, 3), st.integers(0, 2))
_debian = st.builds(
    "{}{}.{}-{}{}".format,
    st.sampled_from(["", "", "1:"]),
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(1, 3),
    st.sampled_from(["", "+deb12u1", "+deb12u2", "~bpo1"]),
)
_kinds = st.sampled_from(["introduced", "introduced", "fixed", "last_affected", "limit"])


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, Affected, list[str]]:
    ecosystem, strategy = draw(st.sampled_from([("npm", _npm), ("Debian:12", _debian)]))
    events_of = st.lists(
        st.tuples(_kinds, st.one_of(st.just("0"), strategy)).filter(
            lambda e: e[1] != "0" or e[0] == "introduced"
        ),
        min_size=1,
        max_size=5,
    )
    rngs = tuple(Range("ECOSYSTEM", tuple(draw(events_of))) for _ in range(draw(st.integers(1, 2))))
    listed = tuple(draw(st.lists(strategy, max_size=2)))
    return (
        ecosystem,
        Affected(ecosystem, "p", rngs, listed),
        draw(st.lists(strategy, min_size=1, max_size=8)),
    )


@settings(FUZZ, max_examples=300)
@given(cases())
def test_match_agrees_with_the_schemas_pseudo_code(case):
    ecosystem, affected, installed = case
    index = Index([("OSV-TEST", affected)])
    packages = [Package(ecosystem, "p", v) for v in installed]
    found = {m.package_index: m.fixed_version for m in match(packages, index)}
    for position, version in enumerate(installed):
        assert (position in found) == is_vulnerable(ecosystem, version, affected), version
        fixed = found.get(position)
        if fixed is not None:  # a fix offered is above the installed version and not affected
            assert versions.compare(ecosystem, fixed, version) > 0
            assert not is_vulnerable(ecosystem, fixed, affected)


@dataclass(frozen=True)
class Hostile:
    ecosystem: str
    match_name: str
    match_version: str


@FUZZ
@given(
    st.lists(
        st.builds(
            Hostile,
            st.sampled_from(["npm", "PyPI", "Debian:12", "Alpine:v3.20", "x", ""]),
            hostile_text,
            hostile_text,
        ),
        max_size=5,
    )
)
def test_hostile_packages_never_crash(packages):
    index = Index([parse_osv_entry(lodash()), parse_osv_entry(requests_leak())])
    assert all(isinstance(m, Match) for m in match(packages, index))


@pytest.mark.parametrize("count", [0, 1, 50])
def test_index_length(count):
    entries = [
        (f"GHSA-{i}", Affected("npm", f"p{i}", ranges(("introduced", "0")))) for i in range(count)
    ]
    assert len(Index(entries)) == count
