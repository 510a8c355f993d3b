"""Version order per ecosystem: each family's pitfalls, and the hand-written keys checked
against the libraries they stand in for."""

from __future__ import annotations

import pytest
import semver
from debian.debian_support import Version as DebianVersion
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import FUZZ, hostile_text
from vulndb import versions
from vulndb.versions import InvalidVersion, compare, family, sort_key, supported


def ascending(ecosystem: str, *chain: str) -> None:
    for low, high in zip(chain, chain[1:], strict=False):
        assert compare(ecosystem, low, high) == -1, (low, high)
        assert compare(ecosystem, high, low) == 1, (high, low)


def test_family_is_the_part_before_the_release():
    assert family("Debian:12") == "Debian"
    assert family("Alpine:v3.20") == "Alpine"
    assert family("Ubuntu:22.04:LTS") == "Ubuntu"
    assert family("PyPI") == "PyPI"


def test_supported_families():
    for ecosystem in ("Debian:12", "Ubuntu:22.04", "Alpine:v3.20", "PyPI", "npm", "Maven", "Go"):
        assert supported(ecosystem)
    for ecosystem in ("crates.io", "RubyGems", "Red Hat:9", "debian:12", ""):
        assert not supported(ecosystem)
    with pytest.raises(InvalidVersion):
        sort_key("crates.io", "1.0.0")


def test_debian_epochs_tildes_and_security_suffixes():
    ascending(
        "Debian:12",
        "1.0~rc1",
        "1.0",
        "1.0-1",
        "1.0-1+deb12u1",
        "1.0-1+deb12u2",
        "1.0-1+deb12u10",  # a number, not text: u10 after u9 and u2
        "1.0-2",
        "1.0+dfsg-1",  # a repacked upstream is a higher upstream version
        "1:0.9",  # the epoch outranks everything after it
    )
    ascending("Debian:12", "1.0~~", "1.0~", "1.0", "1.0a", "1.0.1")
    ascending("Debian:12", "2.36-9", "2.36-9+deb12u1", "2.36-9+deb12u3", "2.36-9+deb12u4")
    # A binNMU's binary is above its source version.
    ascending("Debian:12", "1.2-3", "1.2-3+b1", "1.2-3+b2")
    assert compare("Debian:12", "1.0", "1.0-0") == 0  # no revision compares as "0"
    assert compare("Debian:12", "0:1.0", "1.0") == 0
    assert compare("Debian:12", "1.00", "1.0") == 0  # digits compare as numbers
    ascending("Ubuntu:22.04", "1.2-1", "1.2-1ubuntu0.1", "1.2-1ubuntu1", "1.2-1ubuntu1.1")


def test_alpine_revisions_and_suffixes():
    ascending("Alpine:v3.20", "1.0_rc1-r0", "1.0-r0", "1.0-r1", "1.0-r9", "1.0-r10")
    ascending("Alpine:v3.20", "1.0-r10", "1.0_p1-r0", "1.0_p2-r0", "1.0.1-r0")
    ascending("Alpine:v3.17", "3.0.7-r0", "3.0.7-r1", "3.0.7-r2", "3.0.8-r0")
    assert compare("Alpine:v3.20", "3.1.4-r5", "3.1.4-r5") == 0


def test_pep440_pre_post_and_local_versions():
    ascending(
        "PyPI", "2.31.0.dev1", "2.31.0a1", "2.31.0rc1", "2.31.0", "2.31.0+local", "2.31.0.post1"
    )
    assert compare("PyPI", "2.0", "2.0.0") == 0
    assert compare("PyPI", "1.0RC1", "1.0rc1") == 0
    assert compare("PyPI", "v1.0", "1.0") == 0


def test_semver_prereleases_as_the_spec_orders_them():
    # The example of SemVer 2.0.0, section 11.
    ascending(
        "npm",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "4.17.20",
        "4.17.21",
    )
    assert compare("npm", "v1.2.3", "1.2.3") == 0
    assert compare("npm", "1.2.3+build.7", "1.2.3") == 0  # build metadata has no order
    # Go module versions: pseudo-versions are prereleases of the next version.
    ascending("Go", "v0.0.0-20210101000000-abcdef123456", "v0.0.1", "v1.2.3", "v2.0.0+incompatible")


def test_maven_qualifiers():
    ascending("Maven", "1.0-alpha-1", "1.0-SNAPSHOT", "1.0", "1.0-sp1", "2.17.0", "2.17.1")


@pytest.mark.parametrize(
    ("ecosystem", "version"),
    [
        ("Debian:12", ""),
        ("Debian:12", "1.0 beta"),
        ("Debian:12", "1.0\n"),  # "$" in a grammar would let the newline through
        ("Debian:12", "1:"),
        ("Debian:12", "1.0:2"),  # a colon needs an epoch
        ("Debian:12", "1" * 300),
        ("Alpine:v3.20", "not-a-version"),
        ("PyPI", "1.0-beta-gamma-delta"),
        ("npm", "1.2"),
        ("npm", "01.2.3"),
        ("Maven", "1.0 final"),
        ("Go", "latest"),
        ("Debian:12", "1.0\x00"),
        ("PyPI", "١.٠"),  # Arabic-Indic digits are digits to str.isdigit, not to PEP 440
    ],
)
def test_what_does_not_parse_is_refused(ecosystem, version):
    with pytest.raises(InvalidVersion):
        sort_key(ecosystem, version)


@FUZZ
@given(
    ecosystem=st.sampled_from(["Debian:12", "Alpine:v3.20", "PyPI", "npm", "Maven", "Go"]),
    version=hostile_text,
)
def test_hostile_versions_raise_only_invalid_version(ecosystem, version):
    try:
        key = sort_key(ecosystem, version)
    except InvalidVersion:
        return
    assert compare(ecosystem, version, version) == 0
    assert key == sort_key(ecosystem, version)


# --- the hand-written keys against their libraries, 100 examples of 100 pairs each ---------

_debian_chars = st.sampled_from("0123456789abzAZ.+~")
_debian_versions = st.builds(
    lambda epoch, first, rest, revision: f"{epoch}{first}{rest}{revision}",
    st.sampled_from(["", "", "", "0:", "1:", "2:"]),
    st.sampled_from("0123456789"),
    st.text(_debian_chars, max_size=7),
    st.one_of(
        st.just(""),
        st.text(st.sampled_from("0123456789ab.+~"), min_size=1, max_size=6).map("-{}".format),
    ),
)


@settings(FUZZ, max_examples=100)
@given(st.lists(st.tuples(_debian_versions, _debian_versions), min_size=100, max_size=100))
def test_debian_key_orders_as_python_debian(pairs):
    # versions.py keeps dpkg's order in a tuple because python-debian compares in 18 us.
    for a, b in pairs:
        expected = (DebianVersion(a) > DebianVersion(b)) - (DebianVersion(a) < DebianVersion(b))
        assert compare("Debian:12", a, b) == expected, (a, b)


_identifier = st.sampled_from(["alpha", "beta", "rc", "0", "1", "2", "10", "a1", "x-y", "11"])
_semver_versions = st.builds(
    lambda core, pre, build: core + (f"-{'.'.join(pre)}" if pre else "") + build,
    st.lists(st.sampled_from(["0", "1", "2", "10"]), min_size=3, max_size=3).map(".".join),
    st.lists(_identifier, max_size=3),
    st.sampled_from(["", "", "+b1", "+001"]),
)


@settings(FUZZ, max_examples=100)
@given(st.lists(st.tuples(_semver_versions, _semver_versions), min_size=100, max_size=100))
def test_semver_key_orders_as_the_semver_library(pairs):
    for a, b in pairs:
        assert compare("npm", a, b) == semver.Version.parse(a).compare(b), (a, b)


def test_keys_are_cached_failures_included():
    versions._key.cache_clear()
    for _ in range(3):
        sort_key("Debian:12", "2.36-9+deb12u3")
        with pytest.raises(InvalidVersion):
            sort_key("Debian:12", "not a version")
    assert versions._key.cache_info().misses == 2
