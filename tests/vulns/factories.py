"""Test data of the vulnerability pages: inventories, their packages and matches, the images
and containers of hosts that carry them, the imported data that describes them, decisions.

    inv = InventoryFactory(image_name="registry.example/pay/api:1.4")
    VulnFactory(inventory=inv, vuln="CVE-2024-1", kev=True, fixed_version="1.2.3-1")
    place(host, inv, running=2)          # host runs it, in two running containers
    vulnerability_data()                 # OSV data imported a day ago
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
from typing import Any

import factory
from django.utils import timezone

from findings.models import Container, Image
from hosts.models import Host
from vulndb.models import Advisory, DataImport, DataState, EpssScore, KevEntry
from vulndb.records import VulnSeverity
from vulns.models import ImageInventory, ImageVulnerability, Package, VulnDecision

_ids = itertools.count(1)


def hex64(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class InventoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImageInventory

    key = factory.Sequence(lambda n: hex64(f"layers-{n}"))
    status = ImageInventory.Status.ASSESSED
    mode = "os"
    image_name = factory.Sequence(lambda n: f"registry.example/app{n}:1.0")
    image_id = factory.LazyAttribute(lambda o: "sha256:" + hex64(f"image-{o.key}"))
    os_id = "debian"
    os_version = "12"
    os_name = "Debian GNU/Linux 12 (bookworm)"
    ecosystem = "Debian:12"
    read_at = factory.LazyFunction(timezone.now)
    matched_generation = 1


class PackageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Package

    inventory = factory.SubFactory(InventoryFactory)
    ecosystem = "Debian:12"
    name = factory.Sequence(lambda n: f"lib{n}")
    version = "1.0-1"
    source_name = factory.LazyAttribute(lambda o: o.name)
    source_version = factory.LazyAttribute(lambda o: o.version)
    purl = factory.LazyAttribute(
        lambda o: f"pkg:deb/debian/{o.name}@{o.version}?arch=amd64&distro=debian-12"
    )
    path = "var/lib/dpkg/status"


class VulnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImageVulnerability

    inventory = factory.SubFactory(InventoryFactory)
    vuln = factory.Sequence(lambda n: f"CVE-2024-{1000 + n}")
    advisory_id = factory.LazyAttribute(lambda o: o.vuln)
    ecosystem = "Debian:12"
    package_name = "openssl"
    installed_version = "3.0.11-1~deb12u1"
    fixed_version = "3.0.11-1~deb12u2"
    severity = VulnSeverity.HIGH
    kev = False
    epss = None


class DecisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VulnDecision

    vuln = "CVE-2024-1000"
    state = VulnDecision.State.NOT_AFFECTED
    justification = VulnDecision.Justification.NOT_IN_EXECUTE_PATH
    scope = VulnDecision.Scope.FLEET
    scope_value = ""
    reason = "the vulnerable function is never called"
    owner = "security@example.org"


class AdvisoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Advisory

    id = factory.Sequence(lambda n: f"CVE-2024-{1000 + n}")
    group = factory.LazyAttribute(lambda o: o.id)
    modified = factory.LazyFunction(timezone.now)
    summary = "A heap overflow in the certificate parser"
    aliases = factory.LazyFunction(list)
    severity = VulnSeverity.HIGH
    cvss_vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    cvss_score = 9.8
    references = factory.LazyFunction(lambda: ["https://security.example.org/advisory/1"])


def kev(cve: str, added: datetime.date | None = None) -> KevEntry:
    added = added or datetime.date(2024, 5, 1)
    return KevEntry.objects.create(
        cve=cve,
        vendor="OpenSSL",
        product="OpenSSL",
        name="OpenSSL heap overflow",
        date_added=added,
        due_date=added + datetime.timedelta(days=21),
    )


def epss(cve: str, score: float) -> EpssScore:
    return EpssScore.objects.create(
        cve=cve, score=score, percentile=0.9, scored_on=datetime.date(2024, 6, 1)
    )


def vulnerability_data(age_days: int = 1, advisories: int = 1) -> None:
    """OSV data imported, `age_days` old. The generation moves (with a fresh time), so the
    data-status counts cached per generation are read again."""
    for _ in range(advisories):
        AdvisoryFactory(id=f"DATA-{next(_ids)}")
    now = timezone.now()
    DataState.objects.update_or_create(pk=1, defaults={"generation": next(_ids), "changed_at": now})
    DataImport.objects.create(
        kind=DataImport.Kind.OSV,
        label="all.zip",
        data_date=now - datetime.timedelta(days=age_days),
        added=advisories,
    )


def place(
    host: Host,
    inventory: ImageInventory,
    *,
    running: int = 1,
    stopped: int = 0,
    tags: list[str] | None = None,
    image_id: str | None = None,
) -> Image:
    """`host` holds an image with the inventory's layers, and runs containers from it."""
    image_id = image_id or "sha256:" + hex64(f"{host.name}/{inventory.key}")
    tags = [inventory.image_name] if tags is None else tags
    image = Image.objects.create(
        host=host,
        image_id=image_id,
        name=tags[0] if tags else image_id[:19],
        tags=tags,
        digest="d",
        layers_key=inventory.key,
    )
    for n in range(running + stopped):
        Container.objects.create(
            host=host,
            container_id=hex64(f"{host.name}/{image_id}/{n}"),
            name=f"{(tags[0] if tags else 'ctr').split('/')[-1].split(':')[0]}-{n}",
            image_id=image_id,
            image_ref=tags[0] if tags else image_id,
            state="running" if n < running else "exited",
            digest="d",
        )
    return image


def decision_form(**changes: Any) -> dict[str, Any]:
    data = {
        "state": "not_affected",
        "justification": "vulnerable_code_not_in_execute_path",
        "scope": "fleet",
        "scope_value": "",
        "reason": "the parser is never reached",
        "owner": "security@example.org",
        "expires_on": "",
    }
    data.update(changes)
    return data
