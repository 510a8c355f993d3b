"""Per-rule fleet totals for the rule catalogue pages: the sum over hosts of what each
HostPosture.rule_summary contributes (rules.catalogue.contribution).

Each host's share is stored as its own rows (RuleContribution), written only by
findings.store for the host a scan stores (store_contribution), and summed when the pages
read them (fleet_stats). There is no shared row: the per-rule totals every scan used to
update (RuleTally) serialized a fleet's scans on the same ~60 rows, and were kept by the
scan, by model-signal receivers and by a nightly rebuild (issue 10). A host deleted
cascades its rows away, so nothing else has to keep the sums exact.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, QuerySet, Sum

from access.scope import Scope
from findings.models import HostPosture, RuleContribution
from rules import catalogue as cat

# In the order of catalogue.Contribution.
COLUMNS = ("passing", "failing", "hosts_assessed", "hosts_failing", "hosts_not_applicable")
_CACHE_KEY = "findings:fleet-totals"
# Revisions below 2**31 (an IntegerField on every backend), so that summed over any fleet
# they fit SQLite's 64-bit sum().
_REVISIONS = 2**31 - 2


def fleet_version() -> tuple[int, int]:
    """(hosts with a share, sum of their revisions): changes whenever any host's share does,
    read from a partial index of one entry per host."""
    # The condition as a literal (HOSTS is a constant), not a parameter: only then does
    # SQLite see that its partial index applies (0.06 ms rather than 1.7 ms at 1,000 hosts).
    table = RuleContribution._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*), SUM(revision) FROM {table} WHERE rule_id = '{cat.HOSTS}'")
        hosts, revisions = cursor.fetchone()
    return hosts, revisions or 0


def _shares(scope: Scope | None) -> QuerySet[RuleContribution]:
    rows = RuleContribution.objects.all()
    # The row's posture is keyed by its host: the scope's condition on the host, one join.
    return rows if scope is None else scope.filter(rows, prefix="posture__host__")


def scope_version(scope: Scope) -> tuple[int, int]:
    """fleet_version() over the scope's hosts only. It changes whenever one of their shares
    does, and also when a host joins or leaves the scope (its team label edited), which
    changes no share, so the fleet's version would not see it."""
    mine = _shares(scope).filter(rule_id=cat.HOSTS).aggregate(n=Count("pk"), r=Sum("revision"))
    return mine["n"], mine["r"] or 0


def fleet_totals(scope: Scope | None = None) -> dict[str, cat.Contribution]:
    """Per rule (and catalogue.HOSTS), the hosts' shares summed: one GROUP BY, over the
    hosts in `scope` when one is given."""
    rows = (
        _shares(scope)
        .order_by()
        .values("rule_id")
        .annotate(**{f"sum_{col}": Sum(col) for col in COLUMNS})
        .values_list("rule_id", *(f"sum_{col}" for col in COLUMNS))
    )
    return {row[0]: row[1:] for row in rows}


def fleet_stats(scope: Scope | None = None) -> cat.FleetStats:
    """The catalogue pages' fleet numbers: the whole fleet's, or those of the hosts in
    `scope` (a team-scoped account sees its teams' pass rates, never the fleet's).

    Summing the shares costs more than the rows they replace. At 1,000 hosts (83,000 rows:
    bench/bench_pages.py's fleet, on a loaded 2-CPU machine) the GROUP BY took 13-28 ms
    on PostgreSQL and 34-37 ms on SQLite (medians of 50), where reading the 117 RuleTally
    rows took 0.2 ms. So the sums are kept in the cache, keyed by fleet_version(), which
    any change of any host's share changes: the numbers are exact, and as a rescan that
    changes nothing writes nothing, a page between real changes pays only the version
    check: 0.3 ms (PostgreSQL) and 0.2 ms (SQLite) in all. Chosen over an aggregate table
    refreshed by a task the scans queue: no second writer, no task, no lag, no staleness
    for the tests or the admin to work around.

    A scoped account's sums are the same GROUP BY restricted to its hosts, cached under
    its scope's key with the same version read over its hosts (scope_version)."""
    if scope is None or scope.all_hosts:
        key, version, limit = _CACHE_KEY, fleet_version(), None
    else:
        key, version, limit = f"{_CACHE_KEY}:{scope.key}", scope_version(scope), scope
    # The version is read before the sums: a change committed in between is refetched.
    cached = cache.get(key)
    if cached is not None and cached[0] == version:
        totals = cached[1]
    else:
        totals = fleet_totals(limit)
        cache.set(key, (version, totals), None)
    return cat.stats_from_totals(totals)


def stored_contribution(host_id: int) -> dict[str, cat.Contribution]:
    rows = RuleContribution.objects.filter(posture_id=host_id).values_list("rule_id", *COLUMNS)
    return {row[0]: row[1:] for row in rows}


def store_contribution(host_id: int, summary: Any) -> list[str]:
    """Make the host's rows what `summary` contributes; returns the rule ids rewritten
    (none for an unchanged rescan). For findings.store, inside the transaction that stores
    the summary, with the host's posture row already written (so locked): two writers of
    the same host then take turns, and no other host's row is touched. (The rebuild tool
    below calls it the same way.)

    Compared with the rows stored, not with the previous summary: whatever wrote them, the
    host's rows are exact again after its next scan. The row catalogue.HOSTS is rewritten
    with every change, with a new revision (fleet_version)."""
    want = cat.contribution(summary)
    have = stored_contribution(host_id)
    changed = sorted(r for r in want.keys() | have.keys() if want.get(r) != have.get(r))
    if not changed:
        return []
    rewrite = sorted({*changed, cat.HOSTS} if cat.HOSTS in want else set(changed))
    stale = [r for r in rewrite if r in have]
    if stale:
        RuleContribution.objects.filter(posture_id=host_id, rule_id__in=stale).delete()
    revision = secrets.randbelow(_REVISIONS) + 1  # not `random`: forked workers share its state
    RuleContribution.objects.bulk_create(
        RuleContribution(
            posture_id=host_id,
            rule_id=rule_id,
            revision=revision if rule_id == cat.HOSTS else 0,
            **dict(zip(COLUMNS, want[rule_id], strict=True)),
        )
        for rule_id in rewrite
        if rule_id in want
    )
    return changed


@dataclass
class Rebuild:
    """What rebuild_contributions found wrong: per host id, the rule ids it rewrote."""

    hosts_checked: int = 0
    corrected: dict[int, list[str]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(len(rules) for rules in self.corrected.values())


def _chunks(ids: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def rebuild_contributions(chunk: int = 200) -> Rebuild:
    """Recompute every host's rows from its stored summary and report what was wrong: a
    tool for after a write around findings.store (a restore, a COPY, a queryset update of
    a summary), not a cure scheduled for drift: scans keep every host's rows exact, and
    put a host's right at its next scan whatever wrote them.

    A chunk of hosts at a time, each chunk in its own transaction with the hosts' posture
    rows locked, like a scan storing them: a scan of one of these hosts waits for the
    chunk, and the rest of the fleet is not held up."""
    report = Rebuild()
    ids = list(HostPosture.objects.order_by("pk").values_list("pk", flat=True))
    for part in _chunks(ids, chunk):
        with transaction.atomic():
            postures = HostPosture.objects.filter(pk__in=part).order_by("pk")
            summaries = dict(postures.select_for_update().values_list("pk", "rule_summary"))
            for host_id, summary in summaries.items():
                report.hosts_checked += 1
                changed = store_contribution(host_id, summary)
                if changed:
                    report.corrected[host_id] = changed
    return report
