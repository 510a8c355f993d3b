"""vulndb.importer: each kind and format recognised by content, idempotent upserts, refusals
with reasons, and hostile archives bounded."""

from __future__ import annotations

import copy
import gzip
import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest

from lab.vulndata import (
    demo_epss,
    demo_kev,
    demo_records,
    osv_record,
    write_demo,
    write_epss,
    write_kev,
    write_osv_dir,
    write_osv_zip,
)
from vulndb import importer, inputs, osv_import
from vulndb.importer import import_paths
from vulndb.models import (
    Advisory,
    AffectedPackage,
    DataImport,
    EpssScore,
    KevEntry,
    current_generation,
)
from vulndb.records import VulnSeverity

pytestmark = pytest.mark.django_db

N_DEMO = len(demo_records())


def _record(ident: str = "DSA-5514-1") -> dict[str, Any]:
    return copy.deepcopy(next(r for r in demo_records() if r["id"] == ident))


def _only(report: importer.ImportReport) -> importer.InputReport:
    assert len(report.inputs) == 1, report.inputs
    return report.inputs[0]


def test_zip_of_osv_records(tmp_path: Path) -> None:
    entry = _only(import_paths([write_osv_zip(tmp_path / "all.zip", demo_records())]))
    assert (entry.kind, entry.added, entry.rejected, entry.error) == ("osv", N_DEMO, 0, "")
    dsa = Advisory.objects.get(id="DSA-5514-1")
    assert dsa.group == "CVE-2023-4911"
    assert dsa.source == "osv:all.zip"
    affected = AffectedPackage.objects.get(advisory=dsa)
    assert (affected.ecosystem, affected.name, affected.fixed) == (
        "Debian:12",
        "glibc",
        ["2.36-9+deb12u3"],
    )
    assert affected.ranges == [
        {"type": "ECOSYSTEM", "events": [["introduced", "0"], ["fixed", "2.36-9+deb12u3"]]}
    ]
    row = DataImport.objects.get()
    assert (row.kind, row.added, len(row.digest)) == ("osv", N_DEMO, 64)
    assert row.data_date is not None and row.data_date.year == 2024


def test_inputs_are_recognised_by_content_not_name(tmp_path: Path) -> None:
    """GIVEN a zip, a KEV catalogue and an EPSS CSV under misleading names
    WHEN they are imported
    THEN each is read as what it is."""
    zipped = write_osv_zip(tmp_path / "records.csv", demo_records())
    kev = write_kev(tmp_path / "osv.json", demo_kev())
    epss = write_epss(tmp_path / "kev.zip", demo_epss(), gz=True)
    report = import_paths([zipped, kev, epss])
    assert [(i.kind, i.added, i.error) for i in report.inputs] == [
        ("osv", N_DEMO, ""),
        ("kev", 2, ""),
        ("epss", len(demo_epss()), ""),
    ]
    assert KevEntry.objects.get(cve="CVE-2021-44228").ransomware is True
    assert EpssScore.objects.get(cve="CVE-2021-44228").score == pytest.approx(0.97565)


def test_a_folder_walks_json_zip_csv_and_gz(tmp_path: Path) -> None:
    records = demo_records()
    write_osv_dir(tmp_path / "drop" / "debian", records[:6])
    write_osv_zip(tmp_path / "drop" / "rest.zip", records[6:])
    write_kev(tmp_path / "drop" / "known_exploited_vulnerabilities.json", demo_kev())
    write_epss(tmp_path / "drop" / "epss.csv", demo_epss())
    (tmp_path / "drop" / "README.txt").write_text("not data")
    (tmp_path / "drop" / ".partial.zip").write_bytes(b"PK\x03\x04 half written")
    report = import_paths([tmp_path / "drop"])
    got = {(Path(i.label).name, i.kind): i.added for i in report.inputs}
    assert got == {
        ("drop", "osv"): 6,
        ("known_exploited_vulnerabilities.json", "kev"): 2,
        ("epss.csv", "epss"): len(demo_epss()),
        ("rest.zip", "osv"): N_DEMO - 6,
    }
    assert report.ok
    assert Advisory.objects.count() == N_DEMO


def test_a_single_json_file_and_a_json_list(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps(_record()))
    many = tmp_path / "many.json"
    many.write_text(json.dumps(demo_records()[:3]))
    report = import_paths([one, many])
    assert [(i.kind, i.added) for i in report.inputs] == [("osv", 1), ("osv", 3)]


def test_epss_plain_gzipped_and_without_comment_line(tmp_path: Path) -> None:
    rows = demo_epss()
    plain = write_epss(tmp_path / "a.csv", rows[:3], score_date=None)
    zipped = write_epss(tmp_path / "b.csv.gz", rows, gz=True, score_date="2030-01-02")
    first, second = import_paths([plain, zipped]).inputs
    assert (first.added, first.error) == (3, "")
    assert first.data_date is not None  # the file's own date stands in
    assert (second.added, second.unchanged) == (len(rows) - 3, 3)
    assert second.data_date is not None and second.data_date.date().isoformat() == "2030-01-02"
    assert EpssScore.objects.get(cve="CVE-2005-2541").scored_on.isoformat() == "2030-01-02"


def test_second_import_changes_nothing_and_keeps_the_generation(tmp_path: Path) -> None:
    paths = write_demo(tmp_path)
    first = import_paths(paths)
    assert first.changed and first.generation == current_generation() > 0
    again = import_paths(paths, force=True)
    assert [(i.added, i.updated, i.removed) for i in again.inputs] == [(0, 0, 0)] * 3
    assert [i.unchanged for i in again.inputs] == [N_DEMO, 2, len(demo_epss())]
    assert current_generation() == first.generation
    skipped = import_paths(paths)
    assert all(i.skipped for i in skipped.inputs)
    assert current_generation() == first.generation


def test_a_newer_record_replaces_an_older_one(tmp_path: Path) -> None:
    import_paths([write_osv_zip(tmp_path / "a.zip", demo_records())])
    generation = current_generation()
    newer = _record()
    newer["modified"] = "2024-09-01T00:00:00Z"
    newer["affected"][0]["ranges"][0]["events"][1] = {"fixed": "2.36-9+deb12u4"}
    older = _record("DSA-5523-1")
    older["modified"] = "2020-01-01T00:00:00Z"
    older["summary"] = "an older copy"
    entry = _only(import_paths([write_osv_zip(tmp_path / "b.zip", [newer, older])]))
    assert (entry.updated, entry.unchanged, entry.added) == (1, 1, 0)
    assert AffectedPackage.objects.get(advisory_id="DSA-5514-1").fixed == ["2.36-9+deb12u4"]
    assert AffectedPackage.objects.filter(advisory_id="DSA-5514-1").count() == 1
    assert Advisory.objects.get(id="DSA-5523-1").summary == "curl - security update"
    assert current_generation() > generation


def test_the_newest_of_duplicates_wins_within_one_import(tmp_path: Path) -> None:
    newer = _record()
    newer["modified"] = "2024-09-01T00:00:00Z"
    newer["summary"] = "the newer"
    folder = tmp_path / "d"
    write_osv_zip(folder / "a.zip", [newer])
    write_osv_zip(folder / "b.zip", [_record()])
    import_paths([folder])
    assert Advisory.objects.get(id="DSA-5514-1").summary == "the newer"


def test_a_withdrawn_record_is_removed(tmp_path: Path) -> None:
    import_paths([write_osv_zip(tmp_path / "a.zip", demo_records())])
    withdrawn = _record()
    withdrawn["modified"] = withdrawn["withdrawn"] = "2024-09-01T00:00:00Z"
    entry = _only(import_paths([write_osv_zip(tmp_path / "b.zip", [withdrawn])]))
    assert entry.removed == 1
    assert not Advisory.objects.filter(id="DSA-5514-1").exists()
    assert not AffectedPackage.objects.filter(advisory_id="DSA-5514-1").exists()


def _zip_raw(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_malformed_and_invalid_records_are_refused_whole_with_reasons(tmp_path: Path) -> None:
    good = _record()
    no_modified = osv_record("GHSA-aaaa-bbbb-cccc")
    del no_modified["modified"]
    bad_type = osv_record("GHSA-dddd-eeee-ffff", affected="glibc")
    bad_range = _record("DSA-5523-1")
    bad_range["affected"][0]["ranges"][0]["type"] = "NOT-A-TYPE"
    members = {
        "good.json": json.dumps(good).encode(),
        "truncated.json": json.dumps(good).encode()[:40],
        "no-modified.json": json.dumps(no_modified).encode(),
        "bad-type.json": json.dumps(bad_type).encode(),
        "bad-range.json": json.dumps(bad_range).encode(),
        "deep.json": b"[" * 5000 + b"]" * 5000,
        "bigint.json": b'{"id": "X-1", "n": ' + b"9" * 5000 + b"}",
        "not-utf8.json": b'{"id": "\xff\xfe"}',
        "surrogate.json": json.dumps(osv_record("GHSA-2222-3333-4444", summary="\ud800")).encode(),
    }
    entry = _only(import_paths([_zip_raw(tmp_path / "mixed.zip", members)]))
    assert (entry.added, entry.rejected) == (1, len(members) - 1)
    reasons = dict(entry.rejections)
    assert set(reasons) == set(members) - {"good.json"}
    assert reasons["truncated.json"].startswith("not JSON")
    assert "modified" in reasons["no-modified.json"]
    assert "affected" in reasons["bad-type.json"]
    assert reasons["surrogate.json"] == "invalid Unicode text"
    assert list(Advisory.objects.values_list("id", flat=True)) == ["DSA-5514-1"]
    assert AffectedPackage.objects.count() == 1
    assert DataImport.objects.get().detail["rejections"][0][1]


def test_a_bomb_a_huge_member_and_hostile_names_are_refused(tmp_path: Path) -> None:
    record = json.dumps(_record()).encode()
    path = _zip_raw(
        tmp_path / "hostile.zip",
        {
            "ok.json": record,
            "huge.json": b" " * (inputs.MAX_RECORD_BYTES + 1),
            "../../escape.json": json.dumps(_record("DSA-5523-1")).encode(),
            "/etc/abs.json": json.dumps(_record("DSA-5218-1")).encode(),
            "nested.zip": b"PK\x03\x04",
            "bomb.json": json.dumps(_record("GHSA-j8r2-6x86-q33q")).encode() + b" " * 100_000,
        },
    )
    _forge_size(path, "bomb.json", 2000)
    entry = _only(import_paths([path]))
    reasons = dict(entry.rejections)
    assert entry.added == 1
    assert "over the 5 MB cap" in reasons["huge.json"]
    assert reasons["../../escape.json"] == "unsafe member name"
    assert reasons["/etc/abs.json"] == "unsafe member name"
    assert "nested" in reasons["nested.zip"]
    assert "bomb.json" in reasons
    assert not (tmp_path.parent / "escape.json").exists()
    assert list(Advisory.objects.values_list("id", flat=True)) == ["DSA-5514-1"]


def _forge_size(path: Path, member: str, size: int) -> None:
    """Declare a smaller uncompressed size than the data has, in both headers."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    local = data.find(b"PK\x03\x04")
    while local != -1:
        name_len = struct.unpack_from("<H", data, local + 26)[0]
        if data[local + 30 : local + 30 + name_len] == name:
            struct.pack_into("<I", data, local + 22, size)
        local = data.find(b"PK\x03\x04", local + 4)
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_len] == name:
            struct.pack_into("<I", data, central + 24, size)
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


def test_too_many_members_is_an_error_for_that_input_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inputs, "MAX_MEMBERS", 5)
    big = write_osv_zip(tmp_path / "big.zip", demo_records())
    kev = write_kev(tmp_path / "kev.json", demo_kev())
    report = import_paths([big, kev])
    assert "more than 5" in report.inputs[0].error
    assert report.inputs[1].added == 2
    assert not report.ok
    assert not Advisory.objects.exists()


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"PK\x03\x04" + b"\x00" * 100, "corrupt zip"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 50, "corrupt gzip"),
        (b"\x00\x01binary garbage\xff" * 20, "not OSV, KEV or EPSS data"),
        (b"{not json at all", "not JSON"),
        (b'{"some": "other json"}', "neither an OSV record nor a KEV catalogue"),
        (b"#model_version:v1,score_date:2024-01-01\nfoo,bar\n1,2\n", "cve,epss,percentile"),
        (b"", "not OSV, KEV or EPSS data"),
    ],
)
def test_unreadable_inputs_are_clear_errors(tmp_path: Path, content: bytes, error: str) -> None:
    path = tmp_path / "input"
    path.write_bytes(content)
    entry = _only(import_paths([path]))
    assert error in entry.error
    assert not DataImport.objects.exists()


def test_a_truncated_gzip_is_an_error(tmp_path: Path) -> None:
    full = write_epss(tmp_path / "e.csv.gz", demo_epss(), gz=True).read_bytes()
    (tmp_path / "e.csv.gz").write_bytes(full[: len(full) // 2])
    assert "corrupt gzip" in _only(import_paths([tmp_path / "e.csv.gz"])).error


def test_garbage_rows_in_an_epss_csv_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "epss.csv"
    path.write_text(
        "#model_version:v2023.03.01,score_date:2024-06-03T00:00:00+0000\n"
        "cve,epss,percentile\n"
        "CVE-2021-44228,0.9,0.99\n"
        "CVE-2021-44229,nan,0.5\n"
        "not-a-cve,0.1,0.2\n"
        "CVE-2022-1,0.1,0.2\n"
        "CVE-2023-4911,1.5,0.2\n"
        "CVE-2023-4912,0.1\n"
    )
    entry = _only(import_paths([path]))
    assert (entry.added, entry.rejected) == (1, 5)
    assert entry.rejections[0] == ("line 4", "not a CVE id with two numbers between 0 and 1")


def test_kev_replaces_the_catalogue_unless_older(tmp_path: Path) -> None:
    import_paths([write_kev(tmp_path / "k1.json", demo_kev())])
    newer = write_kev(tmp_path / "k2.json", demo_kev()[:1], released="2025-01-01T00:00:00Z")
    entry = _only(import_paths([newer]))
    assert (entry.unchanged, entry.removed) == (1, 1)
    assert list(KevEntry.objects.values_list("cve", flat=True)) == ["CVE-2021-44228"]
    older = write_kev(tmp_path / "k3.json", demo_kev(), released="2023-01-01T00:00:00Z")
    entry = _only(import_paths([older]))
    assert entry.changed == 0 and "older" in entry.rejections[0][1]
    assert KevEntry.objects.count() == 1


def test_kev_entries_without_a_valid_cve_are_refused(tmp_path: Path) -> None:
    bad = [*demo_kev(), {"cveID": "CVE-nope", "dateAdded": "2024-01-01"}, "text"]
    entry = _only(import_paths([write_kev(tmp_path / "k.json", bad)]))
    assert (entry.added, entry.rejected) == (2, 2)


def test_severity_is_taken_from_the_group_and_follows_it(tmp_path: Path) -> None:
    """GIVEN a DSA record (no severity) imported before its CVE record
    WHEN the CVE record comes, then a newer one with a lower score
    THEN the DSA takes the CVE's severity, then follows it down."""
    import_paths([write_osv_zip(tmp_path / "a.zip", [_record()])])
    assert Advisory.objects.get(id="DSA-5514-1").severity == VulnSeverity.UNKNOWN
    cve = _record("CVE-2023-4911")
    import_paths([write_osv_zip(tmp_path / "b.zip", [cve])])
    dsa = Advisory.objects.get(id="DSA-5514-1")
    assert (dsa.severity, dsa.severity_from) == (VulnSeverity.HIGH, "CVE-2023-4911")
    cve["modified"] = "2024-09-01T00:00:00Z"
    cve["severity"] = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}]
    import_paths([write_osv_zip(tmp_path / "c.zip", [cve])])
    assert Advisory.objects.get(id="DSA-5514-1").severity == VulnSeverity.LOW
    # A record with a severity of its own keeps it.
    assert Advisory.objects.get(id="CVE-2023-4911").severity_from == ""


def test_many_records_through_worker_processes(tmp_path: Path) -> None:
    records = [
        osv_record(
            f"GHSA-test-{n:04d}-xxxx",
            [{"package": {"ecosystem": "PyPI", "name": f"pkg-{n}"}, "versions": ["1.0"]}],
        )
        for n in range(osv_import.BATCH + 500)
    ]
    records[7]["modified"] = "yesterday"
    path = write_osv_zip(tmp_path / "many.zip", records)
    entry = _only(import_paths([path], workers=2))
    assert (entry.added, entry.rejected) == (len(records) - 1, 1)
    assert AffectedPackage.objects.count() == len(records) - 1
    again = _only(import_paths([path], workers=2, force=True))
    assert (again.unchanged, again.rejected) == (len(records) - 1, 1)


def test_gzipped_json_is_read(tmp_path: Path) -> None:
    path = tmp_path / "kev.json.gz"
    path.write_bytes(gzip.compress(write_kev(tmp_path / "k.json", demo_kev()).read_bytes()))
    assert _only(import_paths([path])).kind == "kev"


def test_a_bad_score_date_falls_back_to_the_files_date(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("#model_version:v1,score_date:2024-13-45T00:00:00Z\ncve,epss,percentile\n")
    entry = _only(import_paths([path]))
    assert (entry.kind, entry.error) == ("epss", "")
    assert entry.data_date is not None


def test_a_json_file_over_the_cap_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "MAX_JSON_BYTES", 1000)
    path = tmp_path / "many.json"
    path.write_text(json.dumps(demo_records()))
    assert "over 32 MB" in _only(import_paths([path])).error
