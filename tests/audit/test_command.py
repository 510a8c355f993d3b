"""manage.py audit_export: the trail's JSON Lines on stdout, and the export recorded."""

from __future__ import annotations

import datetime
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from audit import retention
from audit.models import AuditEvent
from audit.services import record

pytestmark = pytest.mark.django_db


def _export(*args: str) -> list[dict]:
    out = StringIO()
    call_command("audit_export", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_it_writes_the_recent_entries_and_records_itself():
    record("auth.login", source="cli")
    old = record("auth.logout", source="cli")
    then = connection.ops.adapt_datetimefield_value(timezone.now() - datetime.timedelta(days=10))
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(retention.PRUNE_ON)
        cursor.execute("UPDATE audit_auditevent SET at = %s WHERE id = %s", [then, old.pk])
        if connection.vendor == "postgresql":
            cursor.execute(retention.PRUNE_OFF)

    recent = _export("--since", "2", "--action", "auth.")
    everything = _export("--action", "auth.")

    assert [line["action"] for line in recent] == ["auth.login"]
    assert [line["action"] for line in everything] == ["auth.login", "auth.logout"]
    exports = AuditEvent.objects.filter(action="export.downloaded", source="cli")
    assert [e.details["filters"].get("action") for e in exports] == ["auth.", "auth."]


def test_a_bad_number_of_days_is_refused():
    with pytest.raises(CommandError, match="at least 1"):
        call_command("audit_export", "--since", "0")
