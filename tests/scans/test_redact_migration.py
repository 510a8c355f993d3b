"""Rows stored before issue 12 lose the secrets of their command lines, labels and image
history when the database is migrated (scans/migrations/0011)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from findings.models import Container, Image
from tests.factories import HostFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("scans.migrations.0011_redact_stored_inventory")
SECRET = "hunter2-s3cr3t-value"


def test_stored_images_and_containers_are_redacted_in_place() -> None:
    host = HostFactory()
    image = Image.objects.create(
        host=host,
        name="app:1",
        digest="d",
        image_id="sha256:" + "a" * 64,
        inspect={
            "Config": {"Cmd": ["app", f"--password={SECRET}"], "Labels": {"db_password": SECRET}}
        },
        history=[{"CreatedBy": f"/bin/sh -c export API_TOKEN={SECRET} && make"}],
    )
    container = Container.objects.create(
        host=host,
        name="app",
        digest="d",
        container_id="c" * 64,
        inspect={"Path": "app", "Args": [f"--token={SECRET}"], "Config": {"Cmd": ["app"]}},
    )
    untouched = Image.objects.create(
        host=host,
        name="plain:1",
        digest="d",
        image_id="sha256:" + "b" * 64,
        inspect={"Config": {"Cmd": ["nginx", "-g", "daemon off;"]}},
        history=[{"CreatedBy": "/bin/sh -c apt-get install -y nginx"}],
    )

    migration.forwards(apps, None)

    for row in (image, container, untouched):
        row.refresh_from_db()
    assert SECRET not in str(image.inspect) and SECRET not in str(image.history)
    assert SECRET not in str(container.inspect)
    assert "REDACTED" in str(image.inspect) and "REDACTED" in str(image.history)
    assert untouched.inspect == {"Config": {"Cmd": ["nginx", "-g", "daemon off;"]}}
    assert untouched.history == [{"CreatedBy": "/bin/sh -c apt-get install -y nginx"}]
