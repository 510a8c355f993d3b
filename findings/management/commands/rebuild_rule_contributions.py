"""manage.py rebuild_rule_contributions: recompute every host's share of the rule
catalogue's fleet totals from its stored rule summary, and say what was wrong. Scans keep
those rows exact; run this after writing HostPosture rows around findings.store (a restore,
a bulk load, a queryset update of a summary)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from findings.tallies import rebuild_contributions


class Command(BaseCommand):
    help = "Recompute each host's rule contributions (the rule pages' totals) from its summary."

    def handle(self, *args: Any, **opts: Any) -> None:
        report = rebuild_contributions()
        for host_id, rule_ids in sorted(report.corrected.items()):
            self.stdout.write(f"host {host_id}: corrected {', '.join(rule_ids)}")
        self.stdout.write(
            f"rule contributions rebuilt: {report.rows} row(s) of {len(report.corrected)}"
            f" of {report.hosts_checked} host(s) corrected"
        )
