"""The lab's distribution-like images, in the real test dockerd, read back as a scanner would.

OS mode: container archive GETs of the OS paths (vulns.readers.OS_PATHS) from a running,
network-less container. Deep mode: the `GET /images/{id}/get` stream, for images with no
container. Each test imports its image under a tag of its own and removes it, so runs that
share the lab daemon do not step on each other.
"""

from __future__ import annotations

import contextlib
import posixpath
import uuid
from collections.abc import Callable, Iterator

import docker
import docker.errors
import pytest

from lab import distro_images as lab
from vulns.readers import OS_PATHS, inventory_from_files, wanted_path
from vulns.tarstream import TarLimits, iter_stream, read_image_archive, read_tar

pytestmark = pytest.mark.docker
TEST_LABEL = "posture.lab.distro-test"
Builder = Callable[[docker.APIClient, str], str]


@pytest.fixture
def image(lab_client: docker.APIClient) -> Iterator[Callable[[Builder], str]]:
    made: list[str] = []

    def build(builder: Builder) -> str:
        tag = f"posture-test/distro-{uuid.uuid4().hex[:12]}:1"
        builder(lab_client, tag)
        made.append(tag)
        return tag

    yield build
    for tag in made:
        with contextlib.suppress(docker.errors.APIError):
            lab_client.remove_image(tag, force=True)


@pytest.fixture
def container(lab_client: docker.APIClient) -> Iterator[Callable[[str], str]]:
    made: list[str] = []

    def run(tag: str) -> str:
        created = lab_client.create_container(
            tag,
            command=["sleep", "3600"],
            labels={TEST_LABEL: "1"},
            host_config=lab_client.create_host_config(network_mode="none"),
        )
        made.append(created["Id"])
        lab_client.start(created["Id"])
        return str(created["Id"])

    yield run
    for container_id in made:
        with contextlib.suppress(docker.errors.APIError):
            lab_client.remove_container(container_id, force=True, v=True)


def read_os_paths(client: docker.APIClient, container_id: str):
    """What scans.images does in OS mode: one archive GET per OS path, absent ones skipped."""
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    for path in OS_PATHS:
        try:
            stream, _stat = client.get_archive(container_id, "/" + path)
        except docker.errors.NotFound:
            continue
        parent = posixpath.dirname(path)
        got = read_tar(iter_stream(stream), lambda p: wanted_path(p, "os"), TarLimits(), parent)
        files.update(got)
        links.update(got.links)
        if path.startswith("var/lib/rpm"):
            files[path] = b""  # presence is what counts
    return files, links


def summary(packages) -> set[tuple[str, str, str, str, str]]:
    return {(p.ecosystem, p.name, p.version, p.source_name, p.source_version) for p in packages}


def expected(items) -> set[tuple[str, str, str, str, str]]:
    return {(e.ecosystem, e.name, e.version, e.source_name, e.source_version) for e in items}


def test_dpkg_status_reads_back_through_the_archive_api(lab_client, image, container):
    container_id = container(image(lab.build_debian_like))

    stream, stat = lab_client.get_archive(container_id, "/var/lib/dpkg/status")
    files = read_tar(iter_stream(stream), lambda p: True, TarLimits(), "var/lib/dpkg/")

    assert stat["name"] == "status"
    assert files["var/lib/dpkg/status"].decode() == lab.debian_status()
    state = lab_client.inspect_container(container_id)
    assert state["State"]["Running"]
    assert state["HostConfig"]["NetworkMode"] == "none"


@pytest.mark.parametrize(
    ("builder", "packages", "ecosystem"),
    [
        (lab.build_debian_like, lab.DEBIAN_PACKAGES, "Debian:12"),
        (lab.build_distroless_like, lab.DISTROLESS_PACKAGES, "Debian:12"),
        (lab.build_alpine_like, lab.ALPINE_PACKAGES, "Alpine:v3.18"),
        (lab.build_ubuntu_like, lab.UBUNTU_PACKAGES, "Ubuntu:22.04"),
    ],
    ids=["debian", "distroless", "alpine", "ubuntu"],
)
def test_os_inventory_from_a_running_container(
    lab_client, image, container, builder, packages, ecosystem
):
    container_id = container(image(builder))

    files, links = read_os_paths(lab_client, container_id)
    result = inventory_from_files(files, "os", links)

    assert result.assessed, result.reason
    assert result.os is not None and result.os.ecosystem() == ecosystem
    assert summary(result.packages) == expected(packages)


@pytest.mark.parametrize(
    ("builder", "packages"),
    [
        (lab.build_debian_like, lab.DEBIAN_PACKAGES + lab.DEBIAN_LANGUAGE_PACKAGES),
        (lab.build_alpine_like, lab.ALPINE_PACKAGES + lab.ALPINE_LANGUAGE_PACKAGES),
    ],
    ids=["debian", "alpine"],
)
def test_deep_inventory_from_the_image_stream(lab_client, image, builder, packages):
    tag = image(builder)

    got = read_image_archive(
        iter_stream(lab_client.get_image(tag)), lambda p: wanted_path(p, "deep"), TarLimits()
    )
    result = inventory_from_files(got.files, "deep", got.links, skipped=got.skipped)

    assert result.assessed, result.reason
    assert summary(result.packages) == expected(packages)
    assert got.bytes_streamed > 1_000_000  # the busybox binary went by, unread


def test_big_image_loads_with_several_layers(lab_client, image):
    tag = image(lambda client, tag: lab.build_big_image(client, tag, size_mb=8))

    layers = lab_client.inspect_image(tag)["RootFS"]["Layers"]
    got = read_image_archive(
        iter_stream(lab_client.get_image(tag)), lambda p: wanted_path(p, "deep"), TarLimits()
    )

    assert len(layers) == 4
    assert len(got.layers) == 4
    assert got.bytes_streamed > 8 * 1024 * 1024
    assert inventory_from_files(got.files, "deep", got.links).assessed
