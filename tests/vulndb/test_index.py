"""vulndb.index: one load per ecosystem per data generation; KEV and EPSS look-ups."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.vulndata import demo_epss, demo_kev, demo_records, write_epss, write_kev, write_osv_zip
from vulndb import index, matching
from vulndb.importer import import_paths

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Pkg:
    ecosystem: str
    match_name: str
    match_version: str


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    index.clear_cache()
    yield
    index.clear_cache()


def _matched(packages: list[Pkg]) -> set[str]:
    idx = index.index_for({p.ecosystem for p in packages})
    return {m.advisory_id for m in matching.match(packages, idx)}


def test_the_index_matches_the_imported_data(tmp_path: Path) -> None:
    import_paths([write_osv_zip(tmp_path / "a.zip", demo_records())])
    packages = [
        Pkg("Debian:12", "glibc", "2.36-9+deb12u1"),
        Pkg("Debian:12", "curl", "7.88.1-10+deb12u4"),  # fixed
        Pkg("Debian:12", "tar", "1.34+dfsg-1.2"),
        Pkg("PyPI", "Requests", "2.28.0"),
    ]
    assert _matched(packages) == {"DSA-5514-1", "DEBIAN-CVE-2005-2541", "GHSA-j8r2-6x86-q33q"}


def test_each_ecosystem_is_loaded_once_per_generation(tmp_path: Path) -> None:
    """GIVEN data imported
    WHEN many images ask for indexes, in different combinations of ecosystems
    THEN each ecosystem is read once, until an import changes the data."""
    import_paths([write_osv_zip(tmp_path / "a.zip", demo_records())])
    first = index.index_for(["Debian:12", "PyPI"])
    for _ in range(10):
        assert index.index_for(["PyPI", "Debian:12"]) is first
    index.index_for(["Debian:12", "npm"])
    assert index._cache.loads == 3

    import_paths([write_osv_zip(tmp_path / "a.zip", demo_records())], force=True)  # unchanged
    assert index.index_for(["Debian:12", "PyPI"]) is first

    newer = copy.deepcopy(next(r for r in demo_records() if r["id"] == "DSA-5514-1"))
    newer["modified"] = "2024-09-01T00:00:00Z"
    newer["affected"][0]["ranges"][0]["events"][1] = {"fixed": "2.36-9+deb12u9"}
    import_paths([write_osv_zip(tmp_path / "b.zip", [newer])])
    again = index.index_for(["Debian:12", "PyPI"])
    assert again is not first
    assert index._cache.loads == 5
    assert _matched([Pkg("Debian:12", "glibc", "2.36-9+deb12u4")]) == {"DSA-5514-1"}


def test_an_empty_database_gives_an_empty_index() -> None:
    assert len(index.index_for(["Debian:12"])) == 0


def test_kev_and_epss_lookups(tmp_path: Path) -> None:
    import_paths(
        [write_kev(tmp_path / "k.json", demo_kev()), write_epss(tmp_path / "e.csv", demo_epss())]
    )
    cves = {"CVE-2021-44228", "CVE-2023-4911", "CVE-2023-32681", "CVE-1999-0001"}
    assert index.kev_set(cves) == {"CVE-2021-44228", "CVE-2023-4911"}
    scores = index.epss_for(cves)
    assert set(scores) == {"CVE-2021-44228", "CVE-2023-4911", "CVE-2023-32681"}
    assert scores["CVE-2021-44228"] == pytest.approx(0.97565)
    many = {f"CVE-2020-{n:05d}" for n in range(2500)} | {"CVE-2023-4911"}
    assert index.kev_set(many) == {"CVE-2023-4911"}
    assert index.kev_set([]) == set() and index.epss_for([]) == {}
