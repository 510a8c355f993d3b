"""The application offers no way to change or delete a trail row; on PostgreSQL the
database refuses it too, except for the retention sweep (audit/migrations/0002)."""

from __future__ import annotations

import datetime

import pytest
from auditlog.models import LogEntry
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit import retention
from audit.models import AuditEvent
from audit.services import record
from audit.tasks import prune_audit
from tests.factories import HostFactory, UserFactory

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the triggers are PostgreSQL's"
)


def test_an_event_cannot_be_saved_again_nor_deleted():
    event = record("host.created", source="cli")
    event.action = "host.deleted"

    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "host.created"


def test_a_change_entry_cannot_be_saved_again_nor_deleted():
    HostFactory(name="pay-1")
    entry = LogEntry.objects.get()
    entry.object_repr = "forged"

    # (Deletion refused inside Django's own transaction: a savepoint each, as a request's
    # transaction would be rolled back.)
    with pytest.raises(TypeError, match="append-only"), transaction.atomic():
        entry.save()
    with pytest.raises(TypeError, match="append-only"), transaction.atomic():
        entry.delete()
    with pytest.raises(TypeError, match="append-only"), transaction.atomic():
        LogEntry.objects.all().delete()
    assert LogEntry.objects.get().object_repr == "pay-1"


def _raw(sql: str, *params: object) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@postgres_only
@pytest.mark.parametrize("table", ["audit_auditevent", "auditlog_logentry"])
@pytest.mark.parametrize("statement", ["UPDATE {} SET object_repr = 'x'", "DELETE FROM {}"])
def test_postgres_refuses_a_raw_update_or_delete(table: str, statement: str):
    record("host.created", source="cli")
    HostFactory(name="pay-1")
    if table == "audit_auditevent":
        statement = statement.replace("object_repr", "target_repr")

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _raw(statement.format(table))

    assert AuditEvent.objects.count() == 1 and LogEntry.objects.count() == 1


@postgres_only
def test_postgres_lets_an_account_go_and_keeps_its_name():
    # Deleting a user empties the actor of its rows (ON DELETE SET NULL): the one update
    # the trigger allows, and only that one.
    user = UserFactory(username="leaver")
    record("auth.login", actor=user)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _raw("UPDATE audit_auditevent SET actor_id = NULL, actor_name = ''")
    user.delete()

    assert AuditEvent.objects.values_list("actor_id", "actor_name").get() == (None, "leaver")


def _age(days: int) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(days=days)


def _backdate(days: int) -> None:
    """Make every row `days` old: with the sweep's own permission, the only way in."""
    then = connection.ops.adapt_datetimefield_value(_age(days))
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _raw(retention.PRUNE_ON)
        _raw("UPDATE audit_auditevent SET at = %s", then)
        _raw("UPDATE auditlog_logentry SET timestamp = %s", then)
        if connection.vendor == "postgresql":
            _raw(retention.PRUNE_OFF)


def test_the_sweep_deletes_rows_past_retention_from_both_tables(settings):
    settings.POSTURE_AUDIT_RETENTION_DAYS = 30
    record("auth.login", source="cli")
    HostFactory(name="old")
    _backdate(31)
    kept_event = record("auth.logout", source="cli")
    HostFactory(name="new")

    deleted = prune_audit()

    assert deleted == {"audit_auditevent": 1, "auditlog_logentry": 1}
    assert list(AuditEvent.objects.all()) == [kept_event]
    assert LogEntry.objects.get().object_repr == "new"


def test_the_sweep_keeps_rows_within_retention(settings):
    settings.POSTURE_AUDIT_RETENTION_DAYS = 365
    record("auth.login", source="cli")
    _backdate(300)

    assert retention.prune() == {"audit_auditevent": 0, "auditlog_logentry": 0}
    assert AuditEvent.objects.count() == 1


def test_the_sweep_goes_in_batches(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(retention, "BATCH", 2)
    for _ in range(5):
        record("auth.login", source="cli")
    _backdate(400)

    assert retention.prune(days=365)["audit_auditevent"] == 5
    assert not AuditEvent.objects.exists()


@postgres_only
def test_the_sweep_leaves_no_permission_behind():
    record("auth.login", source="cli")
    _backdate(400)
    retention.prune(days=365)
    record("auth.logout", source="cli")

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _raw("DELETE FROM audit_auditevent")
