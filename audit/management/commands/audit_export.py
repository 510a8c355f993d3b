"""`manage.py audit_export --since DAYS`: the audit trail as JSON Lines on stdout, the same
lines as /audit.jsonl (for a SIEM, or an archive kept past the retention period)."""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit import trail
from audit.filters import TrailFilters
from audit.services import record


class Command(BaseCommand):
    help = "Write the audit trail (events and model changes) as JSON Lines, newest first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since",
            type=int,
            default=None,
            metavar="DAYS",
            help="only the entries of the last DAYS days (today counts as one); default: all",
        )
        parser.add_argument("--action", default="", help="only actions starting with this")

    def handle(self, *args: Any, since: int | None, action: str, **options: Any) -> None:
        if since is not None and since < 1:
            raise CommandError("--since must be at least 1 (days)")
        start = timezone.localdate() - datetime.timedelta(days=since - 1) if since else None
        filters = TrailFilters(date_from=start, action=action.strip().lower())
        record(
            "export.downloaded",
            source="cli",
            details={"what": "audit.jsonl", "filters": filters.as_details()},
        )
        for row in trail.every_row(filters):
            self.stdout.write(json.dumps(row.as_json(), ensure_ascii=False, default=str))
