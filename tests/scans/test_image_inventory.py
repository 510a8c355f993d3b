"""Image inventories read through the Engine API (scans.images), against the real test dockerd
over each transport, and against a fake daemon that answers garbage.

OS mode reads package databases from a running, network-less container of each lab distro
image (lab.distro_images); deep mode streams the image itself. The expected packages are the
lab module's constants, the one truth every layer's tests assert on.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from hosts.credentials import Credentials
from hosts.endpoints import parse_endpoint
from lab import distro_images as distro
from lab.daemon import LabDaemon
from lab.fake_engine import FakeEngine, Fault
from lab.pki import Pki
from lab.sim_engine import SimEngine, SimSpec
from lab.sshd import LabSshd
from scans.collect import collect
from scans.images import NO_CONTAINER_REASON, OFF_REASON, read_inventory
from scans.transports import DockerAPI, ErrorClass, Limits, ScanError, open_api
from tests.scans.fake import CID, IID, responses
from vulns.packages import InventoryResult, Package
from vulns.tarstream import TarLimits

pytestmark = pytest.mark.docker
LIMITS = Limits(deadline=60, connect_timeout=5, read_timeout=20, pool_size=4)
TAR_LIMITS = TarLimits()
LABEL = "posture.lab.test"
KINDS = {
    "debian": (distro.build_debian_like, distro.DEBIAN_PACKAGES, ("debian", "12")),
    "distroless": (distro.build_distroless_like, distro.DISTROLESS_PACKAGES, ("debian", "")),
    "alpine": (distro.build_alpine_like, distro.ALPINE_PACKAGES, ("alpine", "3.18.4")),
}
ECOSYSTEMS = {"debian": "Debian:12", "distroless": "Debian:12", "alpine": "Alpine:v3.18"}


def key(item: Package | distro.Expected) -> tuple[str, str, str, str, str]:
    return (item.ecosystem, item.name, item.version, item.source_name, item.source_version)


@pytest.fixture(scope="module")
def images(lab_client: docker.APIClient) -> dict[str, str]:
    return {kind: build(lab_client) for kind, (build, _, _) in KINDS.items()}


@pytest.fixture(scope="module")
def containers(lab_client: docker.APIClient, images: dict[str, str]) -> Iterator[dict[str, str]]:
    made: dict[str, str] = {}
    try:
        for kind, image_id in images.items():
            name = f"pst-inventory-{kind}"
            with contextlib.suppress(docker.errors.NotFound):
                lab_client.remove_container(name, force=True, v=True)
            created = lab_client.create_container(
                image_id,
                name=name,
                command=["sleep", "600"],
                labels={LABEL: "inventory"},
                host_config=lab_client.create_host_config(network_mode="none"),
            )
            made[kind] = str(created["Id"])
            lab_client.start(made[kind])
        yield made
    finally:
        for container_id in made.values():
            with contextlib.suppress(docker.errors.APIError):
                lab_client.remove_container(container_id, force=True, v=True)


@pytest.fixture
def endpoint(
    request: pytest.FixtureRequest, lab_daemon: LabDaemon, lab_pki: Pki
) -> tuple[str, Credentials]:
    transport = request.param
    if transport == "unix":
        return lab_daemon.unix_url, Credentials()
    if transport == "tls":
        return lab_daemon.tcp_url, Credentials(
            ca_cert=lab_pki.pem("ca_cert"),
            client_cert=lab_pki.pem("client_cert"),
            client_key=lab_pki.pem("client_key"),
        )
    sshd: LabSshd = request.getfixturevalue("lab_sshd")
    return f"{sshd.ssh_url}?socket={lab_daemon.socket_path}", Credentials(
        ssh_private_key=sshd.client_private_key, ssh_host_key=sshd.host_public_key
    )


@contextlib.contextmanager
def api_for(
    url: str, creds: Credentials | None = None, limits: Limits = LIMITS
) -> Iterator[DockerAPI]:
    with open_api(parse_endpoint(url), creds or Credentials(), limits) as api:
        api.negotiate()
        yield api


def assert_os_inventory(kind: str, result: InventoryResult) -> None:
    _, expected, (os_id, version_id) = KINDS[kind]
    assert result.assessed, result.reason
    assert result.mode == "os"
    assert result.os is not None
    assert (result.os.id, result.os.version_id) == (os_id, version_id)
    assert result.os.ecosystem() == ECOSYSTEMS[kind]
    assert {key(p) for p in result.packages} == {key(e) for e in expected}
    assert result.bytes_read > 0


# -- The real daemon -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint", ["unix", "tls", pytest.param("ssh", marks=pytest.mark.ssh)], indirect=True
)
@pytest.mark.parametrize("kind", list(KINDS))
def test_os_inventory_over_each_transport(
    endpoint: tuple[str, Credentials], kind: str, images: dict[str, str], containers: dict[str, str]
) -> None:
    with api_for(*endpoint) as api:
        result = read_inventory(api, images[kind], containers[kind], "os", TAR_LIMITS)
    assert_os_inventory(kind, result)
    if kind == "debian":
        # Removed with its configuration kept: a dpkg stanza, nothing installed.
        assert distro.DEBIAN_REMOVED not in {p.name for p in result.packages}


def test_os_release_link_is_followed(
    lab_daemon: LabDaemon, images: dict[str, str], containers: dict[str, str]
) -> None:
    """GIVEN the Debian-like image, whose /etc/os-release links to ../usr/lib/os-release
    WHEN its OS inventory is read
    THEN the release comes through the link (the archive of the link holds no file)."""
    with api_for(lab_daemon.unix_url) as api:
        result = read_inventory(api, images["debian"], containers["debian"], "os", TAR_LIMITS)
    assert result.os is not None and result.os.codename == "bookworm"


def test_an_os_release_link_to_a_path_not_read_costs_one_more_get(
    lab_daemon: LabDaemon, lab_client: docker.APIClient
) -> None:
    """GIVEN an image whose /etc/os-release links to a file no OS path names
    WHEN its OS inventory is read
    THEN the link is followed with one more archive GET, and the release is known."""
    files = distro.debian_files()
    files["opt/release/os-release"] = files.pop("usr/lib/os-release")
    tag = f"posture-test/inventory-link-{time.monotonic_ns()}:1"
    links = {"etc/os-release": "../opt/release/os-release"}
    image_id = distro.import_rootfs(lab_client, tag, files, links)
    container = lab_client.create_container(
        image_id, labels={LABEL: "inventory"}, host_config={"NetworkMode": "none"}
    )
    try:
        with api_for(lab_daemon.unix_url) as api:
            result = read_inventory(api, image_id, container["Id"], "os", TAR_LIMITS)
    finally:
        lab_client.remove_container(container["Id"], force=True, v=True)
        lab_client.remove_image(tag, force=True)
    assert result.assessed, result.reason
    assert result.os is not None and (result.os.id, result.os.version_id) == ("debian", "12")
    assert {key(p) for p in result.packages} == {key(e) for e in distro.DEBIAN_PACKAGES}


@pytest.mark.parametrize("endpoint", ["unix", "tls"], indirect=True)
def test_deep_mode_reads_an_image_without_a_container(
    endpoint: tuple[str, Credentials], lab_client: docker.APIClient, images: dict[str, str]
) -> None:
    with api_for(*endpoint) as api:
        result = read_inventory(api, images["debian"], None, "deep", TAR_LIMITS)
    assert result.assessed, result.reason
    assert result.mode == "deep"
    language = {key(p) for p in result.packages if p.ecosystem in ("PyPI", "npm")}
    # requests 2.28.1's dist-info belongs to python3-requests (dpkg's .list): not twice.
    assert language == {key(e) for e in distro.DEBIAN_LANGUAGE_PACKAGES}
    os_packages = {key(p) for p in result.packages if p.ecosystem == "Debian:12"}
    assert os_packages == {key(e) for e in distro.DEBIAN_PACKAGES}
    size = lab_client.inspect_image(images["debian"])["Size"]
    assert result.bytes_read >= size  # the whole image went through the stream


def test_deep_mode_minus_what_apk_owns(lab_daemon: LabDaemon, images: dict[str, str]) -> None:
    with api_for(lab_daemon.unix_url) as api:
        result = read_inventory(api, images["alpine"], None, "deep", TAR_LIMITS)
    assert result.assessed, result.reason
    language = {key(p) for p in result.packages if p.ecosystem == "PyPI"}
    assert language == {key(e) for e in distro.ALPINE_LANGUAGE_PACKAGES}


def test_os_mode_without_a_container_is_not_assessed(
    lab_daemon: LabDaemon, images: dict[str, str]
) -> None:
    with api_for(lab_daemon.unix_url) as api:
        result = read_inventory(api, images["alpine"], None, "os", TAR_LIMITS)
        off = read_inventory(api, images["alpine"], None, "off", TAR_LIMITS)
    assert (result.assessed, result.reason) == (False, NO_CONTAINER_REASON)
    assert (off.assessed, off.reason) == (False, OFF_REASON)


def test_windows_images_are_not_assessed(lab_daemon: LabDaemon, images: dict[str, str]) -> None:
    with api_for(lab_daemon.unix_url) as api:
        result = read_inventory(api, images["alpine"], None, "deep", TAR_LIMITS, platform="windows")
    assert not result.assessed and "Windows" in result.reason


def test_a_container_removed_before_the_read(
    lab_daemon: LabDaemon, lab_client: docker.APIClient, images: dict[str, str]
) -> None:
    created = lab_client.create_container(
        images["alpine"], labels={LABEL: "inventory"}, host_config={"NetworkMode": "none"}
    )
    lab_client.remove_container(created["Id"], force=True, v=True)
    with api_for(lab_daemon.unix_url) as api:
        result = read_inventory(api, images["alpine"], created["Id"], "os", TAR_LIMITS)
    assert not result.assessed and "removed" in result.reason


def test_ids_that_are_not_hashes_never_reach_a_url(
    lab_daemon: LabDaemon, images: dict[str, str]
) -> None:
    with api_for(lab_daemon.unix_url) as api:
        by_container = read_inventory(api, images["alpine"], "../../info?", "os", TAR_LIMITS)
        by_image = read_inventory(api, "../containers/x/archive", None, "deep", TAR_LIMITS)
    for result in (by_container, by_image):
        assert not result.assessed and "not a hash" in result.reason


def test_the_deep_budget_is_enforced(lab_daemon: LabDaemon, images: dict[str, str]) -> None:
    """The image (about 2 MB) against a 256 KiB stream budget: not assessed, said why,
    and the read stops at the budget instead of streaming the rest."""
    limits = TarLimits(max_stream_bytes=256 * 1024)
    with api_for(lab_daemon.unix_url) as api:
        result = read_inventory(api, images["debian"], None, "deep", limits)
    assert not result.assessed
    assert "256 KiB" in result.reason or "262144" in result.reason or "budget" in result.reason


def test_nothing_is_created_on_the_daemon(
    lab_daemon: LabDaemon,
    lab_client: docker.APIClient,
    images: dict[str, str],
    containers: dict[str, str],
) -> None:
    def state() -> tuple[Any, ...]:
        return (
            sorted(c["Id"] for c in lab_client.containers(all=True)),
            sorted(i["Id"] for i in lab_client.images(all=True)),
            sorted(v["Name"] for v in lab_client.volumes().get("Volumes") or ()),
        )

    before = state()
    # Events have a one-second resolution: start on a fresh second, so that the fixtures'
    # own creates (just before) are not counted as ours.
    time.sleep(1.05 - time.time() % 1)
    since = int(time.time())
    with api_for(lab_daemon.unix_url) as api:
        for kind in KINDS:
            assert read_inventory(api, images[kind], containers[kind], "os", TAR_LIMITS).assessed
            assert read_inventory(api, images[kind], None, "deep", TAR_LIMITS).assessed
    assert state() == before
    # Not even a short-lived object: the daemon's events name no create, exec or commit.
    events = lab_client.events(since=since, until=int(time.time()) + 1, decode=True)
    ours = set(containers.values()) | set(images.values())
    kinds = {
        (e.get("Type"), e.get("Action", "").split(":")[0])
        for e in events
        if e.get("id") in ours or e.get("Actor", {}).get("ID") in ours
    }
    assert not kinds & {("container", "create"), ("container", "exec_create"), ("image", "tag")}


# -- A daemon that answers garbage --------------------------------------------------------

ARCHIVE = f"/containers/{CID}/archive"
IMAGE_GET = f"/images/{IID}/get"
FAKE_LIMITS = Limits(deadline=3, connect_timeout=2, read_timeout=2, max_bytes=1024 * 1024)
MARGIN = 5.0  # see tests/scans/test_hostile_daemons.py


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeEngine]:
    engine = FakeEngine(Path(f"/tmp/pst-fake-{time.monotonic_ns()}.sock"), responses()).start()
    yield engine
    engine.stop()


def read_fake(engine: FakeEngine, mode: str, limits: TarLimits = TAR_LIMITS) -> InventoryResult:
    with api_for(engine.url, limits=FAKE_LIMITS) as api:
        return read_inventory(api, IID, CID, mode, limits)


@pytest.mark.parametrize(
    ("mode", "body", "words"),
    [
        ("os", os.urandom(64 * 1024), "unreadable archive"),
        ("os", b"\x1f\x8b" + os.urandom(4096), "unreadable archive"),  # "gzip" that is not
        ("deep", os.urandom(64 * 1024), "unreadable archive"),
        ("deep", tar_of({"manifest.json": b"[{]"}), "unreadable archive"),
        ("deep", tar_of({"manifest.json": b'[{"Layers": ["x/layer.tar"]}]'}), "not in the stream"),
    ],
)
def test_garbage_archives_are_not_assessed_with_a_reason(
    fake: FakeEngine, mode: str, body: bytes, words: str
) -> None:
    fake.responses[ARCHIVE if mode == "os" else IMAGE_GET] = body
    result = read_fake(fake, mode)
    assert not result.assessed
    assert words in result.reason


def test_hostile_member_names_are_not_read(fake: FakeEngine) -> None:
    """Every OS path answers a tar that tries to climb out of its folder: nothing is read."""
    fake.responses[ARCHIVE] = tar_of(
        {"../../../../etc/shadow": b"root:x", "status/../../../x": b"Package: evil\n"}
    )
    result = read_fake(fake, "os")
    assert not result.assessed and result.packages == []


def test_an_archive_past_its_byte_cap(fake: FakeEngine) -> None:
    """Unwanted bytes still stream: an archive GET stops at twice the wanted-file budget."""
    fake.responses[ARCHIVE] = tar_of({"junk": b"x" * (3 * 1024 * 1024)})
    result = read_fake(fake, "os", TarLimits(max_total_bytes=64 * 1024))
    assert not result.assessed and "cap" in result.reason


def test_a_package_database_over_the_file_cap(fake: FakeEngine) -> None:
    fake.responses[ARCHIVE] = tar_of({"status": b"Package: a\nVersion: 1\n\n" * 1000})
    result = read_fake(fake, "os", TarLimits(max_file_bytes=4096))
    assert not result.assessed and "too large" in result.reason


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (Fault("cut", path=ARCHIVE), ErrorClass.MALFORMED.label),
        (Fault("chunkcut", path=ARCHIVE), ""),
        (Fault("status500", path=ARCHIVE), ErrorClass.DAEMON_ERROR.label),
        (Fault("notjson", path=IMAGE_GET), "unreadable archive"),
        (Fault("status500", path=IMAGE_GET), ErrorClass.DAEMON_ERROR.label),
    ],
)
def test_daemon_faults_are_this_images_reason(fake: FakeEngine, fault: Fault, words: str) -> None:
    # Every OS path exists (the HEADs say so), so the faulty GETs happen.
    fake.responses[ARCHIVE] = tar_of({"status": b"Package: a\nVersion: 1\n"})
    fake.faults.append(fault)
    result = read_fake(fake, "deep" if fault.path == IMAGE_GET else "os")
    assert not result.assessed
    assert words in result.reason and result.reason


@pytest.mark.parametrize("path", [ARCHIVE, IMAGE_GET])
def test_the_scan_deadline_still_ends_a_hung_read(fake: FakeEngine, path: str) -> None:
    """A hang is the scan's timeout, not one image's reason: the scan's own deadline
    handling must see it (and does, in time)."""
    fake.faults.append(Fault("hang", path=path))
    started = time.monotonic()
    with pytest.raises(ScanError) as info:
        read_fake(fake, "deep" if path == IMAGE_GET else "os")
    assert info.value.error_class is ErrorClass.TIMEOUT
    assert time.monotonic() - started < FAKE_LIMITS.deadline + MARGIN


# -- The simulated fleet --------------------------------------------------------------------


def test_simulated_hosts_serve_inventories_per_image() -> None:
    """The simulator (lab.sim_engine) answers the archive HEADs and GETs and the image
    stream like dockerd: each simulated image reads as its own Debian inventory, and its
    top layer differs from the other images', so inventories keyed on layers read apart."""
    # A short folder: unix socket paths are limited to 107 bytes.
    folder = tempfile.mkdtemp(prefix="pst-siminv-", dir="/tmp")
    spec = SimSpec(hosts=1, containers=4, images=2, directory=folder)
    with SimEngine(spec) as sim, api_for(sim.hosts[0]["url"]) as api:
        facts = collect(api)
        by_image = {c.inspect["Image"]: c.id for c in facts.containers}
        assert len(by_image) == 2
        seen = []
        for image_id, container_id in by_image.items():
            os_result = read_inventory(api, image_id, container_id, "os", TAR_LIMITS)
            deep = read_inventory(api, image_id, None, "deep", TAR_LIMITS)
            assert os_result.assessed and deep.assessed, (os_result.reason, deep.reason)
            assert os_result.os is not None and os_result.os.ecosystem() == "Debian:12"
            assert {key(p) for p in os_result.packages} == {key(p) for p in deep.packages}
            seen.append(frozenset(key(p) for p in os_result.packages))
    shutil.rmtree(folder, ignore_errors=True)
    assert len(set(seen)) == 2
    assert len({image.layers_key for image in facts.images}) == 2
