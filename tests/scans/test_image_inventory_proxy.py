"""Image inventories need reads only: they work through a GET-only Engine API proxy.

Debian's HAProxy (lab.haproxy) stands in front of the test daemon's socket the way a
read-only docker-socket-proxy does, terminating mutual TLS with the lab's PKI, and answers
403 to every method but GET and HEAD.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import docker
import docker.errors
import pytest
import urllib3

from hosts.credentials import Credentials
from hosts.endpoints import parse_endpoint
from lab import distro_images as distro
from lab.daemon import LabDaemon
from lab.haproxy import LabHaproxy
from lab.pki import Pki
from lab.process import running
from scans.collect import collect
from scans.images import read_inventory
from scans.transports import Limits, open_api
from vulns.tarstream import TarLimits

pytestmark = pytest.mark.docker
LIMITS = Limits(deadline=60, connect_timeout=5, read_timeout=20)
NAME = "pst-inventory-proxied"


def key(item: object) -> tuple[str, ...]:
    return tuple(
        getattr(item, f) for f in ("ecosystem", "name", "version", "source_name", "source_version")
    )


@pytest.fixture(scope="module")
def proxy(lab_daemon: LabDaemon, lab_pki: Pki) -> Iterator[LabHaproxy]:
    with running(LabHaproxy("test-haproxy", lab_daemon.socket_path, tls=lab_pki)) as haproxy:
        yield haproxy


@pytest.fixture(scope="module")
def creds(lab_pki: Pki) -> Credentials:
    return Credentials(
        ca_cert=lab_pki.pem("ca_cert"),
        client_cert=lab_pki.pem("client_cert"),
        client_key=lab_pki.pem("client_key"),
    )


@pytest.fixture(scope="module")
def debian(lab_client: docker.APIClient) -> Iterator[tuple[str, str]]:
    image_id = distro.build_debian_like(lab_client)
    with contextlib.suppress(docker.errors.NotFound):
        lab_client.remove_container(NAME, force=True, v=True)
    created = lab_client.create_container(
        image_id,
        name=NAME,
        command=["sleep", "600"],
        labels={"posture.lab.test": "inventory-proxy"},
        host_config=lab_client.create_host_config(network_mode="none"),
    )
    lab_client.start(created["Id"])
    try:
        yield image_id, str(created["Id"])
    finally:
        with contextlib.suppress(docker.errors.APIError):
            lab_client.remove_container(created["Id"], force=True, v=True)


def test_os_and_deep_inventories_through_a_get_only_proxy(
    proxy: LabHaproxy, creds: Credentials, debian: tuple[str, str]
) -> None:
    image_id, container_id = debian
    with open_api(parse_endpoint(proxy.url), creds, LIMITS) as api:
        facts = collect(api)  # the scan itself needs nothing more either
        os_result = read_inventory(api, image_id, container_id, "os", TarLimits())
        deep = read_inventory(api, image_id, None, "deep", TarLimits())
    assert container_id in {c.id for c in facts.containers}
    assert os_result.assessed, os_result.reason
    assert os_result.os is not None and os_result.os.ecosystem() == "Debian:12"
    assert {key(p) for p in os_result.packages} == {key(e) for e in distro.DEBIAN_PACKAGES}
    assert deep.assessed, deep.reason
    assert {key(e) for e in distro.DEBIAN_LANGUAGE_PACKAGES} <= {key(p) for p in deep.packages}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1.41/containers/create", {"Image": distro.DEBIAN_TAG}),
        ("POST", f"/v1.41/containers/{NAME}/exec", {"Cmd": ["true"]}),
        ("DELETE", f"/v1.41/containers/{NAME}?force=1", None),
        ("PUT", f"/v1.41/containers/{NAME}/archive?path=/tmp", None),
    ],
)
def test_the_proxy_refuses_every_write(
    proxy: LabHaproxy,
    lab_pki: Pki,
    lab_client: docker.APIClient,
    debian: tuple[str, str],
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    before = sorted(c["Id"] for c in lab_client.containers(all=True))
    pool = urllib3.HTTPSConnectionPool(
        proxy.host,
        proxy.port,
        ca_certs=str(lab_pki.ca_cert),
        cert_file=str(lab_pki.client_cert),
        key_file=str(lab_pki.client_key),
        cert_reqs="CERT_REQUIRED",
    )
    with pool:
        response = pool.request(
            method,
            path,
            body=json.dumps(body).encode() if body is not None else b"",
            headers={"Content-Type": "application/json"},
            retries=False,
        )
        # The same proxy lets a read through: the refusal is the method's, not the path's.
        read = pool.request("GET", f"/v1.41/containers/{NAME}/json", retries=False)
    assert response.status == 403
    assert read.status == 200
    assert sorted(c["Id"] for c in lab_client.containers(all=True)) == before
    assert lab_client.inspect_container(NAME)["State"]["Running"]
