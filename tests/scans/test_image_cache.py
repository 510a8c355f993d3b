"""An image already stored for a host is not inspected again: its id is its content hash.

Only its references can change under the same id (a retag), and the /images/json listing
carries those. Proven against the real lab dockerd, counting requests at the DockerAPI layer.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from findings.models import Image
from hosts.models import Host
from lab.daemon import LabDaemon
from scans import services
from scans.models import ScanRun
from scans.transports import DockerAPI, Limits

pytestmark = [pytest.mark.docker, pytest.mark.django_db]
LIMITS = Limits(deadline=60, connect_timeout=5, read_timeout=20)
IMAGE_REQUEST = re.compile(r"^/images/[^/]+/(json|history)$")


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path the scans ask the daemon for, in order."""
    seen: list[str] = []
    get_raw = DockerAPI.get_raw

    def counting(self: DockerAPI, path: str, *args: Any, **kwargs: Any) -> bytes:
        seen.append(path)
        return get_raw(self, path, *args, **kwargs)

    monkeypatch.setattr(DockerAPI, "get_raw", counting)
    return seen


@pytest.fixture
def host(lab_daemon: LabDaemon, lab_samples: dict[str, str]) -> Host:
    return Host.objects.create(name="image-cache", endpoint=lab_daemon.unix_url)


@pytest.fixture
def extra_tag(lab_client: docker.APIClient, lab_image: str) -> Iterator[str]:
    """A second tag on the lab image for the duration of one test."""
    ref = f"posture-test/retag:{uuid.uuid4().hex[:12]}"
    yield ref
    with contextlib.suppress(docker.errors.NotFound):
        lab_client.remove_image(ref)


def scan(host: Host) -> ScanRun:
    run, created = services.request_scan(host, enqueue=False)
    assert created
    done = services.run_scan(run.pk, LIMITS)
    assert done.status == ScanRun.Status.SUCCEEDED, done.error_detail
    return done


def image_requests(paths: list[str]) -> list[str]:
    return [p for p in paths if IMAGE_REQUEST.match(p)]


def test_second_scan_does_not_inspect_stored_images(host: Host, requests: list[str]) -> None:
    scan(host)
    first = image_requests(requests)
    stored = Image.objects.filter(host=host).count()
    assert stored and len(first) == 2 * stored  # one inspect and one history per image

    requests.clear()
    with CaptureQueriesContext(connection) as queries:
        run = scan(host)
    assert image_requests(requests) == []
    assert "/images/json" in requests  # the listing is still read: it carries the references
    assert run.images == stored
    # Taken from storage, the images are unchanged: their rows are not rewritten.
    writes = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("SELECT")]
    assert not any('"scans_image"' in sql for sql in writes), writes


def test_retag_is_seen_without_inspecting(
    host: Host,
    requests: list[str],
    lab_client: docker.APIClient,
    lab_image: str,
    extra_tag: str,
) -> None:
    scan(host)
    image_id = lab_client.inspect_image(lab_image)["Id"]
    before = Image.objects.get(host=host, image_id=image_id)
    assert extra_tag not in before.tags

    repository, tag = extra_tag.split(":")
    lab_client.tag(lab_image, repository, tag)
    requests.clear()
    scan(host)
    assert image_requests(requests) == []
    after = Image.objects.get(host=host, image_id=image_id)
    assert extra_tag in after.tags and lab_image in after.tags
    assert after.inspect["RepoTags"] == after.tags
    assert after.inspect["RepoTags"] == lab_client.inspect_image(image_id)["RepoTags"]
    assert after.history == before.history
