"""What the command line does to the inventory is in the audit trail too, as `cli`."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_host_add_and_remove_from_the_command_line_are_recorded() -> None:
    call_command("host", "add", "cli-1", "unix:///var/run/docker.sock", "--label", "team=pay")
    call_command("host", "remove", "cli-1")

    events = list(AuditEvent.objects.order_by("id").values_list("action", "source", "target_repr"))
    assert events == [("host.created", "cli", "cli-1"), ("host.deleted", "cli", "cli-1")]
