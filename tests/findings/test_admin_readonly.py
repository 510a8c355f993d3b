"""What scans write is read-only in the admin: no add, change or delete, even for a
superuser (vulns' inventories as well as findings')."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.db.models import Model
from django.test import Client, RequestFactory
from django.urls import reverse

from findings.models import Container, Finding, HostPosture, Image, ScoreSample
from tests.factories import FindingFactory, HostFactory, HostPostureFactory, UserFactory
from vulns.models import ImageInventory, ImageVulnerability, Package

pytestmark = pytest.mark.django_db

READ_ONLY = [
    Container,
    Image,
    Finding,
    HostPosture,
    ScoreSample,
    ImageInventory,
    Package,
    ImageVulnerability,
]


@pytest.mark.parametrize("model", READ_ONLY, ids=lambda m: m._meta.label)
def test_no_add_change_or_delete(model: type[Model]) -> None:
    request = RequestFactory().get("/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    model_admin = admin.site._registry[model]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, None)
    assert not model_admin.has_delete_permission(request, None)
    assert model_admin.has_view_permission(request, None)


def test_a_superuser_cannot_post_a_change_or_a_delete(client: Client, settings: Any) -> None:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    host = HostPostureFactory(host=HostFactory(name="inv-1")).host
    container = Container.objects.create(
        host=host, name="web", digest="d", container_id="c" * 64, inspect={"Config": {}}
    )
    finding = FindingFactory(host=host)
    for obj, data in ((container, {"name": "forged"}), (finding, {"severity": "1"})):
        meta = obj._meta
        change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
        delete = reverse(f"admin:{meta.app_label}_{meta.model_name}_delete", args=[obj.pk])
        assert client.post(change, data).status_code == 403
        assert client.post(delete, {"post": "yes"}).status_code == 403
        assert type(obj).objects.filter(pk=obj.pk).exists()
    container.refresh_from_db()
    assert container.name == "web"
