"""Vulnerability data fixtures for tests and the demo: OSV records, a CISA KEV catalogue and
FIRST EPSS scores, in the formats their publishers use.

The advisories are real (ids, packages, affected and fixed versions, CVSS vectors), their
texts written here in our own words. The EPSS figures are of the right order for each CVE,
not a particular day's.

    records = demo_records()                       # list of OSV dicts, each schema-valid
    write_osv_zip(tmp / "all.zip", records)        # as osv.dev publishes per ecosystem
    write_osv_dir(tmp / "osv", records)            # one <id>.json per record
    write_kev(tmp / "kev.json", demo_kev())
    write_epss(tmp / "epss.csv.gz", demo_epss(), gz=True)
    write_demo(tmp)                                # all three, the paths written
"""

from __future__ import annotations

import gzip
import json
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

SCHEMA_VERSION = "1.6.0"
KEV_RELEASED = "2024-06-03T14:00:00.000Z"
EPSS_DATE = "2024-06-03"

# Everything here was last modified before this, so a test can write a newer version.
MODIFIED = "2024-05-01T00:00:00Z"


def _ref(url: str, kind: str = "ADVISORY") -> dict[str, str]:
    return {"type": kind, "url": url}


def _pkg(ecosystem: str, name: str, *events: tuple[str, str], **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"package": {"ecosystem": ecosystem, "name": name}}
    if events:
        rtype = extra.pop("range_type", "ECOSYSTEM")
        entry["ranges"] = [{"type": rtype, "events": [{k: v} for k, v in events]}]
    entry.update(extra)
    return entry


def _cvss(vector: str) -> list[dict[str, str]]:
    return [{"type": "CVSS_V3", "score": vector}]


def osv_record(
    ident: str, affected: Sequence[dict[str, Any]] = (), **fields: Any
) -> dict[str, Any]:
    """A minimal schema-valid OSV record; `fields` adds or overrides any top-level field."""
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "id": ident,
        "modified": MODIFIED,
        "published": MODIFIED,
        "summary": f"{ident} test advisory",
    }
    if affected:
        doc["affected"] = list(affected)
    doc.update(fields)
    return doc


def demo_records() -> list[dict[str, Any]]:
    """A small, realistic set of OSV records across Debian, Alpine, PyPI, npm and Maven.

    Matches a test image can be built to hit (installed → fixed):
    - Debian:12 glibc 2.36-9+deb12u1 < 2.36-9+deb12u3 (DSA-5514-1, CVE-2023-4911, in KEV;
      the DSA carries no severity: it takes HIGH from the CVE record)
    - Debian:12 curl 7.88.1-10+deb12u1 < 7.88.1-10+deb12u4 (DSA-5523-1, CVE-2023-38545)
    - Debian:11 zlib 1:1.2.11.dfsg-2+deb11u1 < 1:1.2.11.dfsg-2+deb11u2 (DSA-5218-1; the
      binary zlib1g carries the source's epoch)
    - Debian:13 xz-utils 5.6.0-0.1 / 5.6.1-1 (CVE-2024-3094; Debian:12's 5.4.1 is not)
    - Debian:12 tar, any version: no fix (DEBIAN-CVE-2005-2541)
    - Debian:12 runc < 1.1.5+ds1-1+deb12u1 (DSA-5615-1, CVE-2024-21626): the host's own
      runtime, for rule 0 on a Debian 12 demo host
    - Alpine:v3.17 openssl 3.0.7-r0 < 3.0.8-r0 (ALPINE-CVE-2023-0286)
    - Alpine:v3.18 openssl 3.1.3-r0 < 3.1.4-r0 (ALPINE-CVE-2023-5363)
    - PyPI requests < 2.31.0 (GHSA-j8r2-6x86-q33q), npm lodash < 4.17.21
      (GHSA-35jh-r3h4-6jhm), Maven org.apache.logging.log4j:log4j-core 2.14.1 < 2.15.0
      (GHSA-jfh8-c2jp-5v3q, in KEV)
    """
    nvd = "https://nvd.nist.gov/vuln/detail/"
    return [
        # Upstream CVE records (as osv.dev converts NVD's): the severity, no packages.
        osv_record(
            "CVE-2023-4911",
            summary="Buffer overflow in the dynamic loader's GLIBC_TUNABLES parsing",
            details="ld.so copies the GLIBC_TUNABLES environment variable without checking "
            "its length, so a local user can run code with the privileges of a setuid "
            'program ("Looney Tunables").',
            published="2023-10-03T18:15:00Z",
            severity=_cvss("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"),
            references=[_ref(nvd + "CVE-2023-4911", "WEB")],
        ),
        osv_record(
            "CVE-2023-38545",
            summary="Heap overflow in curl's SOCKS5 proxy handshake",
            details="A host name longer than 255 bytes, when curl lets the proxy resolve it, "
            "could overflow a heap buffer during a slow SOCKS5 handshake.",
            published="2023-10-18T04:15:00Z",
            severity=_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            references=[_ref("https://curl.se/docs/CVE-2023-38545.html", "WEB")],
        ),
        osv_record(
            "CVE-2022-37434",
            summary="Heap overflow in zlib's inflateGetHeader",
            details="inflate() overflows a heap buffer when the caller asked for a gzip "
            "header's extra field with inflateGetHeader and the field is large.",
            published="2022-08-05T07:15:00Z",
            severity=_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            references=[_ref(nvd + "CVE-2022-37434", "WEB")],
        ),
        osv_record(
            "CVE-2024-3094",
            summary="Backdoor in the xz-utils 5.6.0 and 5.6.1 release tarballs",
            details="The upstream tarballs of xz 5.6.0 and 5.6.1 carried build steps that "
            "hid malicious code in liblzma, able to tamper with sshd authentication on "
            "systems that link it.",
            published="2024-03-29T17:15:00Z",
            severity=_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"),
            references=[_ref(nvd + "CVE-2024-3094", "WEB")],
        ),
        # Debian: source packages, per release, no severity of their own.
        osv_record(
            "DSA-5514-1",
            [_pkg("Debian:12", "glibc", ("introduced", "0"), ("fixed", "2.36-9+deb12u3"))],
            upstream=["CVE-2023-4911"],
            summary="glibc - security update",
            details="The dynamic loader's handling of GLIBC_TUNABLES allowed local privilege "
            "escalation through setuid programs.",
            published="2023-10-03T00:00:00Z",
            references=[_ref("https://www.debian.org/security/2023/dsa-5514")],
        ),
        osv_record(
            "DSA-5523-1",
            [_pkg("Debian:12", "curl", ("introduced", "0"), ("fixed", "7.88.1-10+deb12u4"))],
            upstream=["CVE-2023-38545"],
            summary="curl - security update",
            details="A heap overflow in the SOCKS5 proxy handshake.",
            published="2023-10-11T00:00:00Z",
            references=[_ref("https://www.debian.org/security/2023/dsa-5523")],
        ),
        osv_record(
            "DSA-5218-1",
            [
                _pkg(
                    "Debian:11",
                    "zlib",
                    ("introduced", "0"),
                    ("fixed", "1:1.2.11.dfsg-2+deb11u2"),
                )
            ],
            upstream=["CVE-2022-37434"],
            summary="zlib - security update",
            details="A heap overflow in inflate when a large gzip header extra field is read.",
            published="2022-08-14T00:00:00Z",
            references=[_ref("https://www.debian.org/security/2022/dsa-5218")],
        ),
        osv_record(
            "DEBIAN-CVE-2024-3094",
            [
                _pkg(
                    "Debian:13",
                    "xz-utils",
                    ("introduced", "5.5.1alpha-0.1"),
                    ("fixed", "5.6.1+really5.4.5-1"),
                )
            ],
            upstream=["CVE-2024-3094"],
            summary="xz-utils: backdoored upstream release",
            details="Testing received the backdoored 5.6.x releases; the fix reverts to 5.4.5.",
            published="2024-03-29T17:15:00Z",
            references=[_ref("https://security-tracker.debian.org/tracker/CVE-2024-3094")],
        ),
        # The container runtime of a Debian 12 host, for cheat-sheet rule 0 on the demo host
        # (a Debian 12 machine's runc 1.1.5+ds1-1+deb12u1 carries the backported fix).
        osv_record(
            "CVE-2024-21626",
            summary="runc leaks a host directory descriptor into the container (Leaky Vessels)",
            details="runc kept a file descriptor of the host's /sys/fs/cgroup open while "
            "starting the container process, so an image or exec whose working directory "
            "points at /proc/self/fd/N could reach the host's filesystem and break out.",
            published="2024-01-31T22:15:00Z",
            severity=_cvss("CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H"),
            references=[_ref(nvd + "CVE-2024-21626", "WEB")],
        ),
        osv_record(
            "DSA-5615-1",
            [_pkg("Debian:12", "runc", ("introduced", "0"), ("fixed", "1.1.5+ds1-1+deb12u1"))],
            upstream=["CVE-2024-21626"],
            summary="runc - security update",
            details="Debian backported the upstream fix for the leaked cgroup directory "
            "descriptor to bookworm's runc 1.1.5.",
            published="2024-02-01T00:00:00Z",
            references=[_ref("https://www.debian.org/security/2024/dsa-5615")],
        ),
        osv_record(
            "DEBIAN-CVE-2005-2541",
            [_pkg("Debian:12", "tar", ("introduced", "0"))],
            upstream=["CVE-2005-2541"],
            summary="tar: setuid bits kept when extracting as root",
            details="tar restores setuid and setgid bits of archive members; Debian treats "
            "this as the documented behaviour and ships no fix.",
            published="2005-08-10T04:00:00Z",
            references=[_ref("https://security-tracker.debian.org/tracker/CVE-2005-2541")],
        ),
        # Alpine: the origin package, fixed versions with their -rN.
        osv_record(
            "ALPINE-CVE-2023-0286",
            [_pkg("Alpine:v3.17", "openssl", ("introduced", "0"), ("fixed", "3.0.8-r0"))],
            upstream=["CVE-2023-0286"],
            summary="openssl: type confusion in X.400 address processing",
            details="Comparing a GENERAL_NAME holding an X.400 address could read memory or "
            "crash, e.g. while checking a certificate revocation list.",
            published="2023-02-08T20:15:00Z",
            severity=_cvss("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:H"),
            references=[_ref("https://www.openssl.org/news/secadv/20230207.txt")],
        ),
        # The Alpine-like demo image's openssl 3.1.3-r0 (Alpine 3.18 shipped the fix as
        # 3.1.4-r0).
        osv_record(
            "ALPINE-CVE-2023-5363",
            [_pkg("Alpine:v3.18", "openssl", ("introduced", "0"), ("fixed", "3.1.4-r0"))],
            upstream=["CVE-2023-5363"],
            summary="openssl: key and IV lengths changed after a cipher was set were ignored",
            details="Changing the key or IV length through OSSL_PARAM after the cipher was "
            "initialised was not honoured, so some ciphers could truncate or overrun their "
            "key or IV, weakening confidentiality.",
            published="2023-10-25T18:17:00Z",
            severity=_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"),
            references=[_ref("https://www.openssl.org/news/secadv/20231024.txt")],
        ),
        # Language ecosystems: GitHub's advisories, aliasing the CVE.
        osv_record(
            "GHSA-j8r2-6x86-q33q",
            [_pkg("PyPI", "requests", ("introduced", "2.3.0"), ("fixed", "2.31.0"))],
            aliases=["CVE-2023-32681"],
            summary="Requests leaks Proxy-Authorization headers on redirects",
            details="When following a redirect to HTTPS through a proxy, Requests re-sent the "
            "proxy's credentials to the destination server.",
            published="2023-05-22T20:36:32Z",
            severity=_cvss("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N"),
            references=[
                _ref("https://github.com/psf/requests/security/advisories/GHSA-j8r2-6x86-q33q")
            ],
        ),
        osv_record(
            "GHSA-35jh-r3h4-6jhm",
            [_pkg("npm", "lodash", ("introduced", "0"), ("fixed", "4.17.21"))],
            aliases=["CVE-2021-23337"],
            summary="Command injection in lodash's template",
            details="The `variable` option of _.template reached a Function constructor "
            "unchecked, so whoever controls it can run code.",
            published="2021-05-06T16:05:51Z",
            severity=_cvss("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H"),
            references=[_ref(nvd + "CVE-2021-23337", "WEB")],
        ),
        osv_record(
            "GHSA-jfh8-c2jp-5v3q",
            [
                {
                    "package": {
                        "ecosystem": "Maven",
                        "name": "org.apache.logging.log4j:log4j-core",
                    },
                    "ranges": [
                        {
                            "type": "ECOSYSTEM",
                            "events": [
                                {"introduced": "2.13.0"},
                                {"fixed": "2.15.0"},
                                {"introduced": "2.0-beta9"},
                                {"fixed": "2.3.1"},
                                {"introduced": "2.4"},
                                {"fixed": "2.12.2"},
                            ],
                        }
                    ],
                }
            ],
            aliases=["CVE-2021-44228"],
            summary="Remote code execution in Log4j 2 through JNDI lookups (Log4Shell)",
            details="Log4j 2 resolved ${jndi:...} lookups found in logged messages, so a "
            "string an attacker gets logged can load and run code from an LDAP server.",
            published="2021-12-10T00:40:56Z",
            severity=_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"),
            references=[_ref("https://logging.apache.org/log4j/2.x/security.html", "WEB")],
        ),
    ]


def demo_kev() -> list[dict[str, Any]]:
    """KEV entries (as in CISA's catalogue) for the demo CVEs that are known exploited."""
    return [
        {
            "cveID": "CVE-2021-44228",
            "vendorProject": "Apache",
            "product": "Log4j2",
            "vulnerabilityName": "Apache Log4j2 Remote Code Execution Vulnerability",
            "dateAdded": "2021-12-10",
            "shortDescription": "JNDI features of Log4j2 let an attacker who controls logged "
            "messages run code loaded from an LDAP server.",
            "requiredAction": "Apply updates per vendor instructions.",
            "dueDate": "2021-12-24",
            "knownRansomwareCampaignUse": "Known",
            "notes": "",
        },
        {
            "cveID": "CVE-2023-4911",
            "vendorProject": "GNU",
            "product": "GNU C Library",
            "vulnerabilityName": "GNU C Library Buffer Overflow Vulnerability",
            "dateAdded": "2023-11-21",
            "shortDescription": "The dynamic loader overflows a buffer while processing "
            "GLIBC_TUNABLES, letting a local attacker gain privileges.",
            "requiredAction": "Apply mitigations per vendor instructions.",
            "dueDate": "2023-12-12",
            "knownRansomwareCampaignUse": "Unknown",
            "notes": "",
        },
    ]


def demo_epss() -> list[tuple[str, float, float]]:
    """(cve, epss, percentile) for the demo CVEs."""
    return [
        ("CVE-2021-44228", 0.97565, 0.99995),
        ("CVE-2023-4911", 0.0121, 0.8467),
        ("CVE-2023-38545", 0.2143, 0.9621),
        ("CVE-2024-3094", 0.1043, 0.9402),
        ("CVE-2022-37434", 0.0163, 0.8733),
        ("CVE-2023-0286", 0.0052, 0.7640),
        ("CVE-2023-5363", 0.0033, 0.7012),
        ("CVE-2023-32681", 0.0008, 0.3371),
        ("CVE-2021-23337", 0.0109, 0.8389),
        ("CVE-2005-2541", 0.0104, 0.8334),
    ]


def write_osv_zip(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    """A zip of <id>.json members, as osv.dev's per-ecosystem all.zip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for doc in records:
            archive.writestr(f"{doc['id']}.json", json.dumps(doc, indent=2))
    return path


def write_osv_dir(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    """A folder of <id>.json files (a mirror of osv.dev's bucket)."""
    path.mkdir(parents=True, exist_ok=True)
    for doc in records:
        (path / f"{doc['id']}.json").write_text(json.dumps(doc, indent=2))
    return path


def write_kev(path: Path, entries: Sequence[dict[str, Any]], released: str = KEV_RELEASED) -> Path:
    """A KEV catalogue (known_exploited_vulnerabilities.json) holding these entries."""
    doc = {
        "title": "CISA Catalog of Known Exploited Vulnerabilities",
        "catalogVersion": released[:10].replace("-", "."),
        "dateReleased": released,
        "count": len(entries),
        "vulnerabilities": list(entries),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    return path


def write_epss(
    path: Path,
    rows: Iterable[tuple[str, float, float]],
    gz: bool = False,
    score_date: str | None = EPSS_DATE,
) -> Path:
    """An EPSS CSV as FIRST publishes it (epss_scores-YYYY-MM-DD.csv.gz); score_date None
    leaves out the leading comment line, as older files do."""
    lines = []
    if score_date is not None:
        lines.append(f"#model_version:v2023.03.01,score_date:{score_date}T00:00:00+0000")
    lines.append("cve,epss,percentile")
    lines.extend(f"{cve},{score:.5f},{pct:.5f}" for cve, score, pct in rows)
    data = ("\n".join(lines) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_demo(folder: Path) -> list[Path]:
    """The demo's data in a folder: `manage.py vulndb import FOLDER` takes it all."""
    return [
        write_osv_zip(folder / "osv-all.zip", demo_records()),
        write_kev(folder / "known_exploited_vulnerabilities.json", demo_kev()),
        write_epss(folder / f"epss_scores-{EPSS_DATE}.csv.gz", demo_epss(), gz=True),
    ]
