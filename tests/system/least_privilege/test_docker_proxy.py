"""The Docker API recipe of docs/LEAST_PRIVILEGE.md: contrib/haproxy/posture-readonly.cfg,
run by Debian's HAProxy (lab.haproxy, its bind and server lines pointed at the lab) in
front of the lab's real dockerd.

A whole scan through it, image inventories included, finds what a direct scan finds;
writes, exec, deletes, exports and every path Posture does not read are refused.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import urllib3

from findings.models import Finding, HostPosture
from hosts.models import Host
from lab.daemon import LabDaemon
from lab.haproxy import LabHaproxy
from lab.pki import Pki
from lab.process import running
from scans import services
from scans.models import ScanRun
from scans.transports import Limits

pytestmark = [pytest.mark.django_db, pytest.mark.docker]
SHIPPED = Path(__file__).resolve().parents[3] / "contrib" / "haproxy" / "posture-readonly.cfg"
LIMITS = Limits(deadline=90, connect_timeout=5, read_timeout=30, pool_size=4)
NAME = "pst-least-privilege"


@pytest.fixture(scope="module")
def proxy(lab_daemon: LabDaemon, lab_pki: Pki) -> Iterator[LabHaproxy]:
    haproxy = LabHaproxy("test-lp-haproxy", lab_daemon.socket_path, tls=lab_pki, shipped=SHIPPED)
    with running(haproxy) as started:
        yield started


@pytest.fixture(scope="module")
def target(lab_client: docker.APIClient, lab_image: str) -> Iterator[str]:
    """A running container of our own for the writes to aim at."""
    with contextlib.suppress(docker.errors.NotFound):
        lab_client.remove_container(NAME, force=True, v=True)
    created = lab_client.create_container(
        lab_image,
        name=NAME,
        command=["sleep", "600"],
        labels={"posture.lab.test": "least-privilege"},
        host_config=lab_client.create_host_config(network_mode="none"),
    )
    lab_client.start(created["Id"])
    try:
        yield str(created["Id"])
    finally:
        with contextlib.suppress(docker.errors.APIError):
            lab_client.remove_container(created["Id"], force=True, v=True)


def tls_host(name: str, endpoint: str, pki: Pki) -> Host:
    host = Host(
        name=name,
        endpoint=endpoint,
        tls_ca_cert=pki.pem("ca_cert"),
        tls_client_cert=pki.pem("client_cert"),
        image_scan="os",
    )
    host.set_tls_client_key(pki.pem("client_key"))
    host.save()
    return host


def scanned(host: Host) -> tuple[dict[str, Any], set[tuple[str, str, str]]]:
    run, _ = services.request_scan(host, enqueue=False)
    run = services.run_scan(run.pk, LIMITS)
    assert run.status == ScanRun.Status.SUCCEEDED, run.error_detail
    findings = {
        (f.rule_id, f.subject_key, repr(f.evidence))
        for f in Finding.objects.open().filter(host=host)
    }
    return HostPosture.objects.get(host=host).rule_summary, findings


def test_a_scan_through_the_proxy_finds_what_a_direct_scan_finds(
    proxy: LabHaproxy, lab_daemon: LabDaemon, lab_pki: Pki, target: str
) -> None:
    """GIVEN the lab daemon reached directly and through the read-only proxy
    WHEN both are scanned (the proxied one first, so that it is the one reading the image
    inventories out of the containers)
    THEN both scans succeed with the same findings. The lab daemon is shared with other
    tests, whose containers come and go: a pair that disagrees is scanned again."""
    pairs = []
    for attempt in range(3):
        proxied = scanned(tls_host(f"proxied-{attempt}", proxy.url, lab_pki))
        direct = scanned(tls_host(f"direct-{attempt}", lab_daemon.tcp_url, lab_pki))
        if proxied == direct:
            break
        pairs.append((proxied, direct))
    else:
        proxied, direct = pairs[-1]
        assert proxied[1] == direct[1]
        assert proxied[0] == direct[0]
    assert any(subject == target for _, subject, _ in proxied[1])


def request(
    proxy: LabHaproxy, pki: Pki, method: str, path: str, **kwargs: Any
) -> urllib3.BaseHTTPResponse:
    pool = urllib3.HTTPSConnectionPool(
        proxy.host,
        proxy.port,
        ca_certs=str(pki.ca_cert),
        cert_file=str(pki.client_cert),
        key_file=str(pki.client_key),
        cert_reqs="CERT_REQUIRED",
    )
    with pool:
        return pool.request(method, path, retries=False, **kwargs)


WRITES = [
    ("POST", "/v1.41/containers/create", {"Image": "x", "HostConfig": {"Privileged": True}}),
    ("POST", "/v1.41/containers/{id}/exec", {"Cmd": ["id"]}),
    ("POST", "/v1.41/containers/{id}/stop", None),
    ("POST", "/v1.41/containers/{id}/attach?stream=1&stdin=1", None),
    ("DELETE", "/v1.41/containers/{id}?force=1", None),
    ("PUT", "/v1.41/containers/{id}/archive?path=/tmp", None),
    ("POST", "/v1.41/images/create?fromImage=alpine", None),
    ("POST", "/v1.41/build", None),
    ("POST", "/v1.41/swarm/init", {}),
]
# Reads Posture never makes: each could hand out more than a scan needs.
READS = [
    ("GET", "/v1.41/containers/{id}/export"),
    ("GET", "/v1.41/containers/{id}/logs?stdout=1"),
    ("GET", "/v1.41/containers/{id}/top"),
    ("GET", "/v1.41/containers/" + NAME + "/json"),  # by name: Posture asks by id
    ("GET", "/v1.41/secrets"),
    ("GET", "/v1.41/configs"),
    ("GET", "/v1.41/events"),
    ("GET", "/v1.41/system/df"),
    ("GET", "/v1.41/volumes"),
    ("GET", "/v1.41/containers/json/../create"),
    ("GET", "/v1.41//containers/json"),
    ("GET", "/v1.41/containers/%6a%73%6f%6e"),
    ("GET", "/v1.41/containers/{id}/json/../export"),
    ("HEAD", "/v1.41/containers/{id}/json"),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_every_write_is_refused(
    proxy: LabHaproxy,
    lab_pki: Pki,
    lab_client: docker.APIClient,
    target: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    before = sorted(c["Id"] for c in lab_client.containers(all=True))

    response = request(
        proxy,
        lab_pki,
        method,
        path.format(id=target),
        body=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )

    assert response.status == 403
    assert sorted(c["Id"] for c in lab_client.containers(all=True)) == before
    assert lab_client.inspect_container(target)["State"]["Running"]


@pytest.mark.parametrize(("method", "path"), READS)
def test_reads_posture_never_makes_are_refused(
    proxy: LabHaproxy, lab_pki: Pki, target: str, method: str, path: str
) -> None:
    assert request(proxy, lab_pki, method, path.format(id=target)).status == 403


def test_the_reads_posture_makes_pass(proxy: LabHaproxy, lab_pki: Pki, target: str) -> None:
    image = request(proxy, lab_pki, "GET", f"/v1.41/containers/{target}/json").json()["Image"]
    for method, path in [
        ("GET", "/_ping"),
        ("GET", "/version"),
        ("GET", "/v1.41/info"),
        ("GET", "/v1.41/containers/json?all=1"),
        ("GET", "/v1.41/images/json"),
        ("GET", "/v1.41/networks"),
        ("GET", f"/v1.41/images/{image}/json"),
        ("GET", f"/v1.41/images/{image}/history"),
        ("HEAD", f"/v1.41/containers/{target}/archive?path=/etc/hostname"),
        ("GET", f"/v1.41/containers/{target}/archive?path=/etc/hostname"),
    ]:
        assert request(proxy, lab_pki, method, path).status == 200, path
    # Not read whole: an image archive is large. The proxy lets it start.
    response = request(proxy, lab_pki, "GET", f"/v1.41/images/{image}/get", preload_content=False)
    assert response.status == 200
    response.close()


def test_a_client_without_posture_s_certificate_gets_nothing(
    proxy: LabHaproxy, lab_pki: Pki
) -> None:
    pool = urllib3.HTTPSConnectionPool(
        proxy.host, proxy.port, ca_certs=str(lab_pki.ca_cert), cert_reqs="CERT_REQUIRED"
    )
    with pool, pytest.raises(urllib3.exceptions.HTTPError):
        pool.request("GET", "/_ping", retries=False)
