"""On PostgreSQL the database itself refuses to change or delete an audit row.

A trigger on both trail tables (our AuditEvent and django-auditlog's LogEntry) raises on
UPDATE and DELETE, so neither a bug, nor the Django admin, nor someone with the
application's database login in a psql shell rewrites history. Two exceptions:

* the retention sweep (audit.retention) sets `SET LOCAL posture.audit_prune = 'on'` in its
  own transaction, and only there;
* deleting an account empties the actor of its rows (ON DELETE SET NULL, which Django does
  with an UPDATE): allowed when actor_id is the only column that changes, and only to NULL.
  The name stays (AuditEvent.actor_name, LogEntry.actor_email / additional_data).

TRUNCATE is not blocked: Django's test runner empties tables with it, and a database owner
can drop the triggers anyway; the guard is against the application, not the DBA.

On SQLite there are no such triggers: the model guards (AuditEvent.save/delete, its
queryset's update/delete, audit.receivers for LogEntry) are the application's only rule.
"""

from django.db import migrations

TABLES = ("audit_auditevent", "auditlog_logentry")

FUNCTION = """
CREATE OR REPLACE FUNCTION posture_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF current_setting('posture.audit_prune', true) = 'on' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.actor_id IS NOT NULL AND NEW.actor_id IS NULL
       AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # params=None: no placeholder interpolation (the function's RAISE uses %).
    schema_editor.execute(FUNCTION, params=None)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION posture_audit_append_only()"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS posture_audit_append_only()")


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("auditlog", "0017_add_actor_email"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
