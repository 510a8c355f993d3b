# An index on scans_finding that only trends reads, created here because scans/models.py
# belongs to another part of the code; the SQL is the same on PostgreSQL and SQLite (both
# have partial indexes). To move it into scans.Finding.Meta later, declare it there with
# this name and a SeparateDatabaseAndState (state only) migration, so it is not built twice.

from django.db import migrations

CREATE = """
CREATE INDEX finding_open_rule_host_idx
ON scans_finding (rule_id, host_id, accepted, severity)
WHERE resolved_at IS NULL
"""


class Migration(migrations.Migration):

    dependencies = [
        ("trends", "0002_label_rollups"),
        ("scans", "0007_page_indexes"),
    ]

    operations = [
        # The "now" figures of trends.queries (failing_now, open_hosts_now): per rule, the
        # hosts with an open finding, accepted or not, with the severity: an index-only scan
        # of the ~10 % of findings that are open instead of reading the table.
        migrations.RunSQL(CREATE, "DROP INDEX finding_open_rule_host_idx"),
    ]
