"""manage.py rebuild_rule_tallies: recompute the rule catalogue's fleet totals from every
host's current picture. Beat does it daily; run it after writing HostPosture rows around
the ORM (a restore, a bulk load) to have the pages right at once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from findings.tallies import rebuild_rule_tallies


class Command(BaseCommand):
    help = "Recompute the per-rule fleet totals (RuleTally) from the hosts' rule summaries."

    def handle(self, *args: Any, **opts: Any) -> None:
        corrected = rebuild_rule_tallies()
        self.stdout.write(f"rule tallies rebuilt: {corrected} row(s) corrected")
