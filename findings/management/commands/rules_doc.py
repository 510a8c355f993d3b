"""Write docs/RULES.md from the rule registry; with --check, only say whether it is current.

The file is never edited by hand: tests/rules/test_rules_doc.py fails when it no longer
matches the catalogue, and this command is how it is brought back in line.
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rules.markdown import render_markdown


def default_path() -> Path:
    return Path(settings.BASE_DIR) / "docs" / "RULES.md"


class Command(BaseCommand):
    help = "Generate docs/RULES.md from the rule catalogue (--check: exit 1 if it is stale)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="write nothing; exit with status 1 when the file differs from the catalogue",
        )
        parser.add_argument("--path", type=Path, default=None, help="default: docs/RULES.md")

    def handle(self, *args: Any, **opts: Any) -> None:
        path: Path = opts["path"] or default_path()
        wanted = render_markdown()
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if opts["check"]:
            if current != wanted:
                raise CommandError(
                    f"{path} is out of date: run `python manage.py rules_doc`", returncode=1
                )
            self.stdout.write(f"{path} is up to date")
            return
        if current != wanted:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(wanted, encoding="utf-8")
        self.stdout.write(f"wrote {path}" if current != wanted else f"{path} unchanged")
