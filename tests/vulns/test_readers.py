"""Package databases and language metadata read from an image's files, good and hostile."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab import distro_images as lab
from tests.strategies import FUZZ
from vulns.packages import OsRelease
from vulns.readers import (
    OS_PATHS,
    inventory_from_files,
    parse_apk_installed,
    parse_dpkg_status,
    parse_npm_package,
    parse_os_release,
    parse_pom_properties,
    parse_python_metadata,
    read_apk_installed,
    read_dpkg_status,
    wanted_path,
)


def encoded(files: dict[str, str]) -> dict[str, bytes]:
    return {path: text.encode() for path, text in files.items()}


def summary(packages) -> set[tuple[str, str, str, str, str]]:
    return {(p.ecosystem, p.name, p.version, p.source_name, p.source_version) for p in packages}


def expected(items) -> set[tuple[str, str, str, str, str]]:
    return {(e.ecosystem, e.name, e.version, e.source_name, e.source_version) for e in items}


# -- OS release and ecosystems ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ecosystem"),
    [
        (lab.DEBIAN_OS_RELEASE, "Debian:12"),
        (lab.DISTROLESS_OS_RELEASE, "Debian:12"),
        ('ID=debian\nPRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\n', "Debian:11"),
        ('ID=debian\nVERSION_ID="12.5"\n', "Debian:12"),
        ('ID=debian\nPRETTY_NAME="Debian GNU/Linux trixie/sid"\n', None),
        (lab.UBUNTU_OS_RELEASE, "Ubuntu:22.04"),
        (lab.ALPINE_OS_RELEASE, "Alpine:v3.18"),
        ("ID=alpine\nVERSION_ID=3.20.3\n", "Alpine:v3.20"),
        ("ID=alpine\nVERSION_ID=3.21_alpha20240923\n", None),
        ('ID="rhel"\nVERSION_ID="9.3"\n', None),
        ("ID=fedora\nVERSION_ID=40\n", None),
    ],
)
def test_os_release_to_osv_ecosystem(text, ecosystem):
    release = parse_os_release(text)

    assert release is not None
    assert release.ecosystem() == ecosystem


def test_os_release_quoting_and_junk():
    text = '# comment\nID=\'debian\'\nVERSION_ID="12"\nPRETTY_NAME="a \\"b\\""\nBAD LINE\nX="open\n'

    release = parse_os_release(text)

    assert release == OsRelease(id="debian", version_id="12", pretty_name='a "b"')


@pytest.mark.parametrize("text", ["", "NAME=x\n", "ID=\n", "ID=\x1b[31mred\n"])
def test_os_release_without_a_usable_id(text):
    assert parse_os_release(text) is None


# -- dpkg -------------------------------------------------------------------------------------


def test_dpkg_status_of_the_debian_lab_image():
    packages = parse_dpkg_status(lab.debian_status(), "Debian:12", "var/lib/dpkg/status")

    assert summary(packages) == expected(lab.DEBIAN_PACKAGES)
    assert lab.DEBIAN_REMOVED not in {p.name for p in packages}
    libc = next(p for p in packages if p.name == "libc6")
    assert libc.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u1?arch=amd64&distro=debian-12"
    assert libc.match_name == "glibc"


def test_binnmu_and_epochs_keep_the_source_version_exactly():
    text = (
        "Package: libbz2-1.0\nStatus: install ok installed\nVersion: 1.0.8-5+b1\n"
        "Source: bzip2 (1.0.8-5)\n\n"
        "Package: libfoo\nStatus: install ok installed\nVersion: 1:2.0-1\n"
        "Source: foo (2.0-1)\n\n"
        "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\nSource: zlib\n"
    )

    packages = {p.name: p for p in parse_dpkg_status(text, "Debian:12")}

    assert packages["libbz2-1.0"].match_version == "1.0.8-5"
    assert packages["libfoo"].match_version == "2.0-1"  # the binary's epoch is not the source's
    assert packages["zlib1g"].match_version == "1:1.2.13.dfsg-1"


@pytest.mark.parametrize(
    "status", ["deinstall ok config-files", "install ok half-installed", "purge ok not-installed"]
)
def test_only_installed_stanzas_count(status):
    text = f"Package: a\nStatus: {status}\nVersion: 1\n"

    assert parse_dpkg_status(text, "Debian:12") == []


def test_hostile_stanzas_are_skipped_and_counted():
    good = "Package: good\nStatus: install ok installed\nVersion: 1.0-1\n"
    bad = [
        "Package: " + "a" * 300 + "\nStatus: install ok installed\nVersion: 1\n",
        "Package: evil\nStatus: install ok installed\nVersion: " + "1" * 200 + "\n",
        "Package: ctl\x07\nStatus: install ok installed\nVersion: 1\n",
        "Package: bidi\nStatus: install ok installed\nVersion: 1\u202e2\n",
        "Package: noversion\nStatus: install ok installed\n",
        "Package: Bad_Name\nStatus: install ok installed\nVersion: 1\n",
        "Package: src\nStatus: install ok installed\nVersion: 1\nSource: a (b) (c)\n",
        "Package: two\nPackage: names\nStatus: install ok installed\nVersion: 1\n",
        "garbage without any field\n",
        "Package: good\nStatus: install ok installed\nVersion: 1.0-1\n",  # a duplicate
    ]

    parsed = read_dpkg_status("\n".join([good, *bad]), "Debian:12")

    assert [p.name for p in parsed.packages] == ["good"]
    assert parsed.refused == len(bad)


def test_bad_encoding_and_truncation_keep_the_rest():
    data = (
        b"Package: ok\nStatus: install ok installed\nVersion: 1\n\n"
        b"Package: l\xe9gacy\nStatus: install ok installed\nVersion: 1\n\n"
        b"Package: cut\nStatus: install ok inst"
    )
    files = {"etc/os-release": b"ID=debian\nVERSION_ID=12\n", "var/lib/dpkg/status": data}

    result = inventory_from_files(files, "os")

    assert result.assessed
    assert [p.name for p in result.packages] == ["ok"]
    assert "1 malformed entries skipped in /var/lib/dpkg/status" in result.reason


@FUZZ
@given(st.text(max_size=2000))
def test_any_text_parses_to_packages_or_nothing(text):
    for package in read_dpkg_status(text, "Debian:12").packages:
        assert len(package.name) <= 255 and len(package.version) <= 128
    read_apk_installed(text, "Alpine:v3.18")
    parse_os_release(text)


# -- apk --------------------------------------------------------------------------------------


def test_apk_installed_of_the_alpine_lab_image():
    packages, owned = parse_apk_installed(lab.alpine_installed(), "Alpine:v3.18")

    assert summary(packages) == expected(lab.ALPINE_PACKAGES)
    crypto = next(p for p in packages if p.name == "libcrypto3")
    assert crypto.match_name == "openssl"
    assert crypto.license == "MIT"
    assert crypto.purl == "pkg:apk/alpine/libcrypto3@3.1.3-r0?arch=x86_64&distro=alpine-3.18"
    assert "lib/libcrypto.so.3" in owned
    assert f"{lab.ALPINE_APK_OWNED_DIST_INFO}/METADATA" in owned


def test_apk_stanza_without_a_name_or_with_spaces_is_refused():
    text = "P:ok\nV:1-r0\n\nV:2-r0\n\nP:sp ace\nV:1-r0\n\nP:ok\nV:1-r0\n"

    parsed = read_apk_installed(text, "Alpine:v3.18")

    assert [p.name for p in parsed.packages] == ["ok"]
    assert parsed.refused == 3


# -- Language packages ------------------------------------------------------------------------


def test_python_metadata():
    package = parse_python_metadata(
        b"Metadata-Version: 2.1\nName: Requests\nVersion: 2.28.0\n", "p"
    )

    assert package is not None
    assert (package.ecosystem, package.name, package.version) == ("PyPI", "Requests", "2.28.0")
    assert package.purl == "pkg:pypi/requests@2.28.0"


@pytest.mark.parametrize(
    "data",
    [b"", b"Name: x\n", b"\xff\xfe\x00garbage", b"Name: " + b"x" * 400 + b"\nVersion: 1\n"],
)
def test_python_metadata_hostile(data):
    assert parse_python_metadata(data, "p") is None


def test_npm_package_json():
    scoped = json.dumps({"name": "@babel/core", "version": "7.22.0"}).encode()

    package = parse_npm_package(scoped, "app/node_modules/@babel/core/package.json")

    assert package is not None
    assert package.purl == "pkg:npm/%40babel/core@7.22.0"


@pytest.mark.parametrize(
    "data",
    [
        b"[1, 2]",
        b'{"name": 1, "version": "1"}',
        b'{"name": "x", "version": {"a": 1}}',
        b'{"name": "x y", "version": "1"}',
        b'{"name": "scope/x", "version": "1"}',
        b"[" * 100_000,
        b'{"name": "x", "version": "1' + b"0" * 200 + b'"}',
        b"\xff\xfe",
    ],
)
def test_npm_package_json_hostile(data):
    assert parse_npm_package(data, "p") is None


def test_pom_properties():
    data = (
        b"#Generated by Maven\ngroupId=org.apache.logging.log4j\n"
        b"artifactId=log4j-core\nversion=2.14.1\n"
    )

    package = parse_pom_properties(data, "p")

    assert package is not None
    assert (package.ecosystem, package.name) == ("Maven", "org.apache.logging.log4j:log4j-core")
    assert package.purl == "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"


# -- Paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "os_mode", "deep_mode"),
    [
        ("etc/os-release", True, True),
        ("var/lib/dpkg/status", True, True),
        ("var/lib/dpkg/status.d/libc6", True, True),
        ("lib/apk/db/installed", True, True),
        ("var/lib/rpm/rpmdb.sqlite", True, True),
        ("var/lib/dpkg/info/python3-requests.list", False, True),
        ("var/lib/dpkg/info/python3-requests.md5sums", False, False),
        ("usr/lib/python3/dist-packages/requests-2.28.1.dist-info/METADATA", False, True),
        ("usr/lib/python3.11/site-packages/foo-1.0.egg-info/PKG-INFO", False, True),
        ("usr/lib/python3.11/site-packages/foo-1.0.egg-info", False, True),
        ("app/node_modules/lodash/package.json", False, True),
        ("app/node_modules/@babel/core/package.json", False, True),
        ("app/node_modules/a/node_modules/b/package.json", False, True),
        ("app/node_modules/lodash/test/fixtures/package.json", False, False),
        ("app/node_modules/.bin/package.json", False, False),
        ("app/package.json", False, False),
        ("app/lib/app.jar", False, False),
        ("app/META-INF/maven/org.x/y/pom.properties", False, True),
        ("etc/passwd", False, False),
    ],
)
def test_wanted_paths(path, os_mode, deep_mode):
    assert wanted_path(path, "os") is os_mode
    assert wanted_path(path, "deep") is deep_mode


def test_os_paths_are_what_os_mode_reads():
    assert set(OS_PATHS) == {
        "etc/os-release",
        "usr/lib/os-release",
        "var/lib/dpkg/status",
        "var/lib/dpkg/status.d",
        "lib/apk/db/installed",
        "var/lib/rpm",
    }


# -- Inventories ------------------------------------------------------------------------------


def test_debian_deep_inventory_drops_what_dpkg_owns():
    links = {"etc/os-release": "../usr/lib/os-release"}
    files = {p: d for p, d in encoded(lab.debian_files()).items() if wanted_path(p, "deep")}

    result = inventory_from_files(files, "deep", links)

    assert result.assessed, result.reason
    assert result.os is not None and result.os.ecosystem() == "Debian:12"
    assert summary(result.packages) == expected(lab.DEBIAN_PACKAGES) | expected(
        lab.DEBIAN_LANGUAGE_PACKAGES
    )
    pypi = [p for p in result.packages if p.ecosystem == "PyPI"]
    assert [p.version for p in pypi] == ["2.28.0"]  # not the distro's 2.28.1 a second time


def test_debian_os_inventory_has_no_language_packages():
    files = {p: d for p, d in encoded(lab.debian_files()).items() if wanted_path(p, "os")}

    result = inventory_from_files(files, "os", {"etc/os-release": "../usr/lib/os-release"})

    assert result.assessed
    assert summary(result.packages) == expected(lab.DEBIAN_PACKAGES)


def test_dpkg_ownership_through_a_merged_usr_link():
    files = {
        "etc/os-release": b"ID=debian\nVERSION_ID=12\n",
        "var/lib/dpkg/status": b"Package: p\nStatus: install ok installed\nVersion: 1\n",
        "var/lib/dpkg/info/p.list": b"/lib/python3/dist-packages/p-1.dist-info/METADATA\n",
        "usr/lib/python3/dist-packages/p-1.dist-info/METADATA": b"Name: p\nVersion: 1\n",
    }

    result = inventory_from_files(files, "deep", {"lib": "usr/lib"})

    assert [p.ecosystem for p in result.packages] == ["Debian:12"]


def test_distroless_inventory_from_status_d():
    files = encoded(lab.distroless_files())

    result = inventory_from_files(files, "os")

    assert result.assessed, result.reason
    assert summary(result.packages) == expected(lab.DISTROLESS_PACKAGES)


def test_alpine_deep_inventory_drops_what_apk_owns():
    files = encoded(lab.alpine_files())

    result = inventory_from_files(files, "deep")

    assert result.assessed, result.reason
    assert summary(result.packages) == expected(lab.ALPINE_PACKAGES) | expected(
        lab.ALPINE_LANGUAGE_PACKAGES
    )


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({}, "no /etc/os-release and no package database"),
        ({"var/lib/rpm/rpmdb.sqlite": b"SQLite"}, "RPM databases are not read yet"),
        ({"var/lib/rpm": b""}, "RPM databases are not read yet"),
        (
            {
                "etc/os-release": b"ID=fedora\nVERSION_ID=40\nPRETTY_NAME=Fedora\n",
                "var/lib/dpkg/status": b"",
            },
            "no OSV ecosystem for Fedora (ID=fedora)",
        ),
        (
            {
                "etc/os-release": b"ID=debian\nVERSION_ID=12\n",
                "var/lib/dpkg/status": b"Package: \x01\nStatus: install ok installed\nVersion: 1\n",
            },
            "/var/lib/dpkg/status does not parse",
        ),
        (
            {"var/lib/dpkg/status": b"Package: a\nStatus: install ok installed\nVersion: 1\n"},
            "no readable /etc/os-release",
        ),
        ({"etc/os-release": b"ID=debian\nVERSION_ID=12\n"}, "no package database found"),
    ],
    ids=["nothing", "rpm", "rpm-dir", "no-ecosystem", "unparsable", "no-release", "no-db"],
)
def test_not_assessed_with_a_reason(files, reason):
    result = inventory_from_files(files, "os")

    assert not result.assessed
    assert reason in result.reason
    assert result.packages == []


def test_an_oversized_package_database_is_named():
    files = {"etc/os-release": b"ID=debian\nVERSION_ID=12\n"}

    result = inventory_from_files(
        files, "deep", skipped={"var/lib/dpkg/status": "20000000 bytes, over the 16 MiB cap"}
    )

    assert not result.assessed
    assert "/var/lib/dpkg/status is too large to read" in result.reason


def test_a_scratch_image_with_language_packages_is_assessed_in_deep_mode():
    files = {"app/node_modules/lodash/package.json": b'{"name":"lodash","version":"4.17.20"}'}

    result = inventory_from_files(files, "deep")

    assert result.assessed
    assert [(p.ecosystem, p.name) for p in result.packages] == [("npm", "lodash")]
    assert "no OS packages" in result.reason


def test_os_release_link_loop_is_not_a_crash():
    files = {"var/lib/dpkg/status": b"Package: a\nStatus: install ok installed\nVersion: 1\n"}
    links = {"etc/os-release": "os-release2", "etc/os-release2": "os-release"}

    result = inventory_from_files(files, "os", links)

    assert not result.assessed
