"""manage.py vulndb import PATH... | status: vulnerability data from files, and its age."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from vulndb.freshness import data_status
from vulndb.importer import InputReport, import_paths

SHOWN_REJECTIONS = 20
KIND_NAMES = {"osv": "OSV advisories", "kev": "CISA KEV", "epss": "FIRST EPSS"}


class Command(BaseCommand):
    help = "Import OSV, CISA KEV and FIRST EPSS files; show what data is loaded and its age."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser(
            "import", help="import files or folders (OSV zip/JSON, KEV JSON, EPSS CSV[.gz])"
        )
        imp.add_argument("paths", nargs="+", metavar="PATH")
        imp.add_argument("--force", action="store_true", help="read files imported before")
        imp.add_argument(
            "--workers", type=int, default=None, help="processes validating OSV records"
        )
        sub.add_parser("status", help="sources, record counts and the data's age")

    def handle(self, *args: Any, **opts: Any) -> None:
        getattr(self, f"handle_{opts['action']}")(opts)

    def handle_import(self, opts: dict[str, Any]) -> None:
        report = import_paths(
            [Path(p) for p in opts["paths"]], force=opts["force"], workers=opts["workers"]
        )
        for entry in report.inputs:
            self._print_input(entry)
        self.stdout.write(f"data generation {report.generation}")
        failed = [i.label for i in report.inputs if i.error]
        if failed:
            raise CommandError(f"{len(failed)} input(s) could not be read: {', '.join(failed)}")

    def _print_input(self, entry: InputReport) -> None:
        kind = KIND_NAMES.get(entry.kind, "?")
        if entry.error:
            self.stderr.write(self.style.ERROR(f"{entry.label}: not imported: {entry.error}"))
            return
        if entry.skipped:
            self.stdout.write(f"{entry.label} ({kind}): imported before, skipped (see --force)")
            return
        self.stdout.write(
            f"{entry.label} ({kind}): {entry.added} added, {entry.updated} updated, "
            f"{entry.unchanged} unchanged, {entry.removed} removed, {entry.rejected} rejected"
        )
        for where, why in entry.rejections[:SHOWN_REJECTIONS]:
            self.stdout.write(f"  refused {where}: {why}")
        if entry.rejected > SHOWN_REJECTIONS:
            self.stdout.write(f"  … and {entry.rejected - SHOWN_REJECTIONS} more refused")

    def handle_status(self, opts: dict[str, Any]) -> None:
        status = data_status()
        counts = {"osv": status.osv_count, "kev": status.kev_count, "epss": status.epss_count}
        for kind, name in KIND_NAMES.items():
            newest, age = status.newest.get(kind), status.ages.get(kind)
            line = f"{name}: {counts[kind]} records"
            if newest is not None:
                line += f", data of {newest:%Y-%m-%d} ({age} days old)"
            self.stdout.write(line)
        self.stdout.write(f"data generation {status.generation}")
        if not status.has_osv:
            self.stdout.write(
                self.style.WARNING(
                    "warning: no vulnerability data: image vulnerabilities are not assessed"
                )
            )
        for kind in status.stale_kinds:
            self.stdout.write(
                self.style.WARNING(
                    f"warning: {KIND_NAMES[kind]} data is {status.ages[kind]} days old, "
                    f"older than {status.max_age_days} (POSTURE_VULNDB_MAX_AGE_DAYS)"
                )
            )
