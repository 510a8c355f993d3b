"""OSV records into Advisory: real advisories' facts (in our own words), severity, caps, and
hostile records refused with a message that names the field."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import FUZZ, json_values, wrong_type
from vulndb import osv
from vulndb.osv import InvalidRecord, parse_osv, validate
from vulndb.records import VulnSeverity

MODIFIED = "2024-02-16T08:13:09Z"


def lodash() -> dict[str, Any]:
    """CVE-2021-23337: command injection through lodash's template; fixed in 4.17.21."""
    return {
        "schema_version": "1.6.0",
        "id": "GHSA-35jh-r3h4-6jhm",
        "modified": MODIFIED,
        "published": "2021-05-06T16:05:51Z",
        "aliases": ["CVE-2021-23337"],
        "summary": "Command injection through lodash's template function",
        "details": "An attacker who controls template options can run commands.",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
            {
                "package": {"ecosystem": "npm", "name": "lodash"},
                "ranges": [
                    {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.21"}]}
                ],
            }
        ],
        "references": [
            {"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2021-23337"},
            {"type": "WEB", "url": "javascript:alert(1)"},
        ],
        "database_specific": {"severity": "HIGH", "cwe_ids": ["CWE-94"]},
    }


def requests_leak() -> dict[str, Any]:
    """CVE-2023-32681: requests sent Proxy-Authorization to the destination on redirects
    to HTTPS, from 2.3.0; fixed in 2.31.0."""
    return {
        "id": "GHSA-j8r2-6x86-q33q",
        "modified": MODIFIED,
        "aliases": ["CVE-2023-32681", "PYSEC-2023-74"],
        "summary": "requests leaks Proxy-Authorization headers",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N"}],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "requests"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}]}
                ],
            }
        ],
        "database_specific": {"severity": "MODERATE"},
    }


def looney_tunables() -> dict[str, Any]:
    """CVE-2023-4911: a buffer overflow in glibc's ld.so parsing GLIBC_TUNABLES; Debian 12
    fixed it in 2.36-9+deb12u3 (DSA-5514-1). Debian's records carry no severity."""
    return {
        "id": "DEBIAN-CVE-2023-4911",
        "modified": MODIFIED,
        "published": "2023-10-03T18:15:00Z",
        "upstream": ["CVE-2023-4911"],
        "details": "Local privilege escalation through GLIBC_TUNABLES.",
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "glibc"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}],
                    }
                ],
            }
        ],
    }


def test_a_ghsa_record():
    advisory = parse_osv(lodash())

    assert advisory.id == "GHSA-35jh-r3h4-6jhm"
    assert advisory.aliases == ("CVE-2021-23337",)
    assert advisory.group == "CVE-2021-23337"
    assert advisory.modified == datetime(2024, 2, 16, 8, 13, 9, tzinfo=UTC)
    assert advisory.published is not None and advisory.published.tzinfo is not None
    assert advisory.withdrawn is None
    assert advisory.severity == VulnSeverity.HIGH
    assert advisory.cvss_score == 7.2
    assert advisory.cvss_vector.startswith("CVSS:3.1/AV:N/")
    # Only web links: a javascript: URL would become an href.
    assert advisory.references == ("https://nvd.nist.gov/vuln/detail/CVE-2021-23337",)
    (affected,) = advisory.affected
    assert (affected.ecosystem, affected.name) == ("npm", "lodash")
    assert affected.ranges[0].type == "SEMVER"
    assert affected.ranges[0].events == (("introduced", "0"), ("fixed", "4.17.21"))
    assert affected.fixed == ("4.17.21",)


def test_a_debian_record_groups_under_its_upstream_cve():
    advisory = parse_osv(looney_tunables())

    assert advisory.upstream == ("CVE-2023-4911",)
    assert advisory.group == "CVE-2023-4911"
    assert advisory.severity == VulnSeverity.UNKNOWN
    assert advisory.cvss_score is None
    assert advisory.affected[0].fixed == ("2.36-9+deb12u3",)


def test_a_record_fixing_several_cves_stays_itself():
    doc = looney_tunables() | {"id": "DSA-5514-1", "upstream": ["CVE-2023-4527", "CVE-2023-4911"]}
    assert parse_osv(doc).group == "DSA-5514-1"


@pytest.mark.parametrize(
    ("severity", "specific", "expected", "score"),
    [
        # CVSS v4 before v3 before v2, whatever the order in the record.
        (
            [
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"},
                {
                    "type": "CVSS_V4",
                    "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                },
            ],
            None,
            VulnSeverity.CRITICAL,
            9.3,
        ),
        ([{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:C/I:C/A:C"}], None, VulnSeverity.HIGH, 10),
        (
            [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N"}],
            "CRITICAL",  # the vector wins over the database's word
            VulnSeverity.MEDIUM,
            6.1,
        ),
        (None, "MODERATE", VulnSeverity.MEDIUM, None),
        (None, "Important", VulnSeverity.HIGH, None),
        (None, "whatever", VulnSeverity.UNKNOWN, None),
        ([{"type": "Ubuntu", "score": "negligible"}], None, VulnSeverity.LOW, None),
        (
            [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"}],
            None,
            VulnSeverity.LOW,  # 0.0, "none": LOW, not "no score given"
            0.0,
        ),
    ],
)
def test_severity(severity, specific, expected, score):
    doc = requests_leak()
    doc.pop("severity")
    doc.pop("database_specific")
    if severity is not None:
        doc["severity"] = severity
    if specific is not None:
        doc["database_specific"] = {"severity": specific}
    advisory = parse_osv(doc)
    assert advisory.severity == expected
    assert advisory.cvss_score == score


def test_severity_given_per_package():
    doc = requests_leak()
    vector = doc.pop("severity")
    doc["affected"][0]["severity"] = vector
    assert parse_osv(doc).severity == VulnSeverity.MEDIUM


def test_a_vector_the_schema_passes_but_cvss_refuses_falls_back():
    doc = requests_leak()
    # The schema's pattern takes metrics in any order and number; the cvss library does not.
    doc["severity"] = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N"}]
    advisory = parse_osv(doc)
    assert advisory.severity == VulnSeverity.MEDIUM  # database_specific's MODERATE
    assert advisory.cvss_vector == ""


def test_caps_and_cleaning():
    doc = lodash()
    doc["summary"] = "s" * 5000
    doc["details"] = "d\x00" * 50_000
    doc["references"] = [{"type": "WEB", "url": f"https://example.org/{i}"} for i in range(500)]
    doc["aliases"] = ["CVE-2021-23337", "CVE-2021-23337", "bad id", "x" * 300, doc["id"]]
    advisory = parse_osv(doc)
    assert len(advisory.summary) == osv.MAX_SUMMARY
    assert advisory.details == "d" * osv.MAX_DETAILS  # NUL stripped: PostgreSQL refuses it
    assert len(advisory.references) == osv.MAX_REFERENCES
    assert advisory.aliases == ("CVE-2021-23337",)


def test_withdrawn_records_parse():
    doc = lodash() | {"withdrawn": "2024-03-01T00:00:00Z"}
    assert parse_osv(doc).withdrawn == datetime(2024, 3, 1, tzinfo=UTC)


def test_odd_packages_and_ranges_are_dropped_not_the_record():
    doc = requests_leak()
    good = doc["affected"][0]
    doc["affected"] = [
        good,
        {
            "ranges": [
                {"type": "GIT", "repo": "https://example.org/r", "events": [{"introduced": "0"}]}
            ]
        },
        {"package": {"ecosystem": "PyPI", "name": "evil\nname"}},
        {
            "package": {"ecosystem": "PyPI", "name": "other"},
            "ranges": [
                {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0\x00"}]},
                {"type": "ECOSYSTEM", "events": [{"introduced": "2.0", "note": "kept"}]},
            ],
            "versions": ["1.0", "1.0", "bad\x01"],
        },
    ]
    first, other = parse_osv(doc).affected
    assert first.name == "requests"
    assert other.ranges[0].events == (("introduced", "2.0"),)
    assert other.versions == ("1.0",)


def refused(doc: Any) -> str:
    with pytest.raises(InvalidRecord) as caught:
        parse_osv(doc)
    message = str(caught.value)
    assert len(message) < 200, message
    return message


def test_refusals_name_the_field():
    assert refused({"modified": MODIFIED}) == "record: missing id"
    assert refused({"id": "GHSA-x"}) == "record: missing modified"
    assert refused(lodash() | {"affected": {"a": 1}}).startswith("affected: expected array")
    assert refused(lodash() | {"id": "GHSA-" + "x" * 200}).startswith("id:")
    assert refused(lodash() | {"id": "GHSA-a b"}).startswith("id:")
    assert refused(lodash() | {"id": "NOTADB-1"}).startswith("id:")  # not a known prefix
    assert refused(lodash() | {"modified": "2024-13-45T99:00:00Z"}).startswith("modified:")
    assert refused(lodash() | {"modified": "x2024-02-16T08:13:09Zx"}).startswith("modified:")
    assert refused(lodash() | {"extra": 1}) == "record: unknown field extra"
    no_introduced = lodash()
    no_introduced["affected"][0]["ranges"][0]["events"] = [{"fixed": "1.0"}]
    assert refused(no_introduced).startswith("affected[0].ranges[0].events:")
    both = lodash()
    both["affected"][0]["ranges"][0]["events"] = [{"introduced": "0", "fixed": "1"}]
    assert refused(both).startswith("affected[0].ranges[0].events[0]")
    nameless = lodash()
    del nameless["affected"][0]["package"]["name"]
    assert refused(nameless) == "affected[0].package: missing name"


@pytest.mark.parametrize("doc", [None, [], "GHSA-x", 3, json.dumps({"id": "GHSA-x"})])
def test_not_an_object(doc):
    assert refused(doc).startswith("record: expected a JSON object")


def test_hostile_values_stay_out_of_messages():
    huge = "<script>" * 100_000
    assert huge[:50] not in refused(lodash() | {huge: 1})
    assert huge[:50] not in refused(lodash() | {"id": huge})
    assert huge[:50] not in refused(lodash() | {"summary": [huge]})


def test_size_bounds_come_before_the_schema():
    deep: Any = "x"
    for _ in range(100):
        deep = {"a": deep}
    assert refused(lodash() | {"database_specific": deep}) == "record: nested deeper than 32"
    wide = lodash() | {"database_specific": {"v": list(range(osv.MAX_NODES + 1))}}
    assert refused(wide).startswith("record: more than")
    assert refused(lodash() | {"details": "x" * (osv.MAX_STRING + 1)}).startswith(
        "record: a string"
    )


def test_the_validator_is_built_once():
    osv._validator.cache_clear()
    for doc in (lodash(), requests_leak(), looney_tunables()):
        validate(doc)
    assert osv._validator.cache_info().misses == 1


def test_the_schema_is_the_vendored_official_one():
    schema = json.loads(osv.SCHEMA_PATH.read_text())
    assert schema["$id"].endswith("ossf/osv-schema/main/validation/schema.json")
    readme = (osv.SCHEMA_PATH.parent / "README.md").read_text()
    assert "ossf/osv-schema" in readme and "Apache" in readme


@FUZZ
@given(st.data())
def test_damaged_records_raise_only_invalid_record(data):
    base = data.draw(st.sampled_from([lodash, requests_leak, looney_tunables]))()
    doc = data.draw(st.one_of(wrong_type(base), json_values, st.just(base)))
    if isinstance(doc, dict) and data.draw(st.booleans()):
        doc = copy.deepcopy(base) | {k: v for k, v in doc.items() if k in base}
    try:
        advisory = parse_osv(doc)
    except InvalidRecord:
        return
    assert advisory.id == doc["id"]
