"""vulns.inventories: one read per image content for the whole fleet, stored, matched,
and summarised for the rules with honest "not assessed" reasons."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from rules.facts import ContainerFacts, ImageFacts
from tests.factories import HostFactory
from vulns import inventories, summary
from vulns.models import ImageInventory, Package
from vulns.packages import InventoryResult, OsRelease
from vulns.packages import Package as Pkg

pytestmark = pytest.mark.django_db


def layer(n: int) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


def image(n: int, layers: int = 3) -> ImageFacts:
    ident = "sha256:" + hashlib.sha256(f"img{n}".encode()).hexdigest()
    return ImageFacts(
        id=ident,
        inspect={
            "Id": ident,
            "RepoTags": [f"registry.example/app{n}:1.{n}"],
            "RootFS": {"Type": "layers", "Layers": [layer(n * 100 + i) for i in range(layers)]},
        },
    )


def container_of(img: ImageFacts, n: int, running: bool = True) -> ContainerFacts:
    cid = hashlib.sha256(f"c{n}".encode()).hexdigest()
    return ContainerFacts(id=cid, inspect={"Image": img.id, "State": {"Running": running}})


def test_the_same_layers_are_claimed_once_for_the_whole_fleet():
    """1,000 hosts running the same 50 images cost 50 inventory reads, not 50,000."""
    images = [image(n) for n in range(50)]
    claimed = 0
    for h in range(1000):
        host = HostFactory(name=f"h{h:04}")
        containers = inventories.image_containers(
            [container_of(img, h * 100 + i) for i, img in enumerate(images)]
        )
        for claim in inventories.claim(host, images, containers, "os"):
            claimed += 1
            inventories.store(claim, InventoryResult(mode="os", assessed=True), host, 5)
    assert claimed == 50
    assert ImageInventory.objects.count() == 50


def test_claims_are_capped_per_scan_and_the_rest_wait(settings):
    settings.POSTURE_IMAGE_INVENTORY = {**settings.POSTURE_IMAGE_INVENTORY, "PER_SCAN": 3}
    host = HostFactory()
    images = [image(n) for n in range(7)]
    containers = inventories.image_containers([container_of(i, n) for n, i in enumerate(images)])
    first = inventories.claim(host, images, containers, "os")
    assert len(first) == 3
    for claim in first:
        inventories.store(claim, InventoryResult(mode="os", assessed=True), host, 1)
    assert len(inventories.claim(host, images, containers, "os")) == 3


def test_a_claim_held_by_a_live_worker_is_not_taken_but_an_expired_one_is():
    a, b = HostFactory(name="a"), HostFactory(name="b")
    img = image(1)
    containers = {img.id: "c" * 64}
    assert len(inventories.claim(a, [img], containers, "os")) == 1
    assert inventories.claim(b, [img], containers, "os") == []
    ImageInventory.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    again = inventories.claim(b, [img], containers, "os")
    assert len(again) == 1
    # The first worker wakes up late: its result is dropped, the new reader's stands.
    stale = inventories.Claim(again[0].key, img, "c" * 64)
    assert inventories.store(stale, InventoryResult(mode="os", assessed=True), a, 1) is None
    assert inventories.store(again[0], InventoryResult(mode="os", assessed=True), b, 1)


def test_os_mode_needs_a_container_deep_mode_does_not_and_off_reads_nothing():
    host = HostFactory()
    img = image(1)
    assert inventories.claim(host, [img], {}, "os") == []
    assert inventories.claim(host, [img], {}, "off") == []
    claims = inventories.claim(host, [img], {}, "deep")
    assert len(claims) == 1 and claims[0].container_id is None


def test_running_containers_are_preferred_to_read_from():
    img = image(1)
    stopped, running = container_of(img, 1, running=False), container_of(img, 2)
    assert inventories.image_containers([stopped, running]) == {img.id: running.id}


def test_an_image_without_layers_is_never_claimed_and_says_why():
    host = HostFactory()
    img = ImageFacts(id="sha256:" + "a" * 64, inspect={"RootFS": {"Layers": ["nope"]}})
    assert inventories.claim(host, [img], {img.id: "c" * 64}, "deep") == []
    summary.summaries(host, [img], "deep", {})
    assert img.vulns is not None and not img.vulns.assessed
    assert "no layer list" in img.vulns.reason


def test_stored_packages_and_os_and_a_failed_read_is_retried_later():
    host = HostFactory()
    img = image(1)
    [claim] = inventories.claim(host, [img], {img.id: "c" * 64}, "os")
    result = InventoryResult(
        mode="os",
        assessed=True,
        os=OsRelease("debian", "12", "Debian GNU/Linux 12 (bookworm)"),
        packages=[Pkg("Debian:12", "libc6", "2.36-9+deb12u1", "glibc", "2.36-9+deb12u1")],
        bytes_read=4096,
    )
    inventory = inventories.store(claim, result, host, 12)
    assert inventory is not None and inventory.assessed
    assert inventory.ecosystem == "Debian:12" and inventory.package_count == 1
    assert Package.objects.get().source_name == "glibc"
    # Already read: nobody claims it again.
    assert inventories.claim(host, [img], {img.id: "c" * 64}, "os") == []

    img2 = image(2)
    [claim2] = inventories.claim(host, [img2], {img2.id: "d" * 64}, "os")
    failed = InventoryResult(mode="os", assessed=False, reason="archive: bad", bytes_read=10)
    inventories.store(claim2, failed, host, 3)
    assert inventories.claim(host, [img2], {img2.id: "d" * 64}, "os") == []
    ImageInventory.objects.filter(key=claim2.key).update(
        read_at=timezone.now() - inventories.RETRY_FAILED - timedelta(minutes=1)
    )
    assert len(inventories.claim(host, [img2], {img2.id: "d" * 64}, "os")) == 1


def test_summaries_say_why_an_image_is_not_assessed():
    host = HostFactory()
    unread, reading = image(1), image(2)
    inventories.claim(host, [reading], {reading.id: "c" * 64}, "os")
    summary.summaries(host, [unread, reading], "os", {reading.id: "c" * 64})
    assert "no container of this image" in unread.vulns.reason
    assert "being read" in reading.vulns.reason
    summary.summaries(host, [unread], "off", {})
    assert "off" in unread.vulns.reason


def test_no_vulnerability_data_is_not_assessed_never_clean():
    host = HostFactory()
    img = image(1)
    [claim] = inventories.claim(host, [img], {img.id: "c" * 64}, "os")
    result = InventoryResult(
        mode="os",
        assessed=True,
        os=OsRelease("debian", "12"),
        packages=[Pkg("Debian:12", "libc6", "2.36-9+deb12u1", "glibc", "2.36-9+deb12u1")],
    )
    inventories.store(claim, result, host, 1)
    summary.summaries(host, [img], "os", {img.id: "c" * 64})
    assert img.vulns is not None
    assert not img.vulns.assessed
    assert img.vulns.reason == "no vulnerability data for Debian:12"
