"""Per-rule fleet totals (RuleTally), kept equal to the sum over hosts of what each
HostPosture.rule_summary contributes (rules.catalogue.contribution).

The rule catalogue pages need every rule's pass rate across the fleet. Summing every
host's JSON summary per request cost ~750 ms at 1,000 hosts (docs/BENCHMARKS.md); these
rows cost a few milliseconds whatever the fleet's size. Who keeps them:

* store_success applies the delta between a host's old and new summary, in the scan's
  transaction, with the host's posture row locked (locked_summary, apply_delta);
* receivers, connected in ScansConfig.ready, do the same for HostPosture rows saved or
  deleted through the ORM: a deleted host (cascade), the admin, fixtures, test factories;
* rebuild_rule_tallies() recomputes every row from the summaries: daily from beat, from
  `manage.py rebuild_rule_tallies`, and after writes that bypass the ORM (a queryset
  update() of rule_summary, bulk_create, bench/bench_pages.py's COPY).
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.db.models.signals import post_save, pre_delete, pre_save

from findings.models import HostPosture, RuleTally
from rules import catalogue as cat

# In the order of catalogue.Contribution.
COLUMNS = ("passing", "failing", "hosts_assessed", "hosts_failing", "hosts_not_applicable")


def fleet_stats() -> cat.FleetStats:
    """The catalogue pages' fleet numbers: one statement over a hundred small rows,
    whatever the fleet's size (the fleet's host count is the row catalogue.HOSTS)."""
    rows = RuleTally.objects.values_list("rule_id", *COLUMNS)
    return cat.stats_from_totals({row[0]: row[1:] for row in rows})


def locked_summary(host_id: int) -> tuple[Any] | None:
    """(summary,) of the host's posture, its row locked until the transaction ends; None
    when the host has no posture row. A tuple, so that a JSON null is not taken for "no
    row". Under the lock, nobody else can change the summary between this read and the
    caller's write, so the delta the caller applies is exact."""
    rows = HostPosture.objects.filter(pk=host_id)
    if transaction.get_connection().in_atomic_block:  # FOR UPDATE is refused outside one
        rows = rows.select_for_update()
    return rows.values_list("rule_summary").first()


def apply_delta(old: Any, new: Any) -> int:
    """Add new's contribution and take old's away, for the rules where they differ; returns
    how many rows were written (none for an unchanged rescan). Call inside the transaction
    that replaces `old` with `new`."""
    delta = cat.contribution_delta(old, new)
    if not delta:
        return 0
    # Rule id order, for creating and for updating: two scans of different hosts then lock
    # the rows they share in the same order, so on PostgreSQL one waits for the other but
    # they never deadlock.
    ids = sorted(delta)
    existing = set(RuleTally.objects.filter(rule_id__in=ids).values_list("rule_id", flat=True))
    missing = [RuleTally(rule_id=rule_id) for rule_id in ids if rule_id not in existing]
    if missing:
        # A scan creating the same row meanwhile makes this wait for its commit, then skip
        # the row: the increments below then apply to the committed row.
        RuleTally.objects.bulk_create(missing, ignore_conflicts=True)
    for rule_id in ids:
        changes = {col: F(col) + d for col, d in zip(COLUMNS, delta[rule_id], strict=True) if d}
        RuleTally.objects.filter(rule_id=rule_id).update(**changes)
    return len(ids)


@transaction.atomic
def rebuild_rule_tallies() -> int:
    """Recompute every tally from the hosts' summaries; returns how many rows were wrong
    (created, corrected or deleted), 0 when nothing had drifted."""
    if connection.vendor == "postgresql":
        # EXCLUSIVE blocks writers but not readers: the pages keep reading the old rows,
        # and a scan reaching its delta meanwhile waits, then adds new − old to the rebuilt
        # row; its old summary is what the rebuild read, as its new one is not committed
        # yet. On SQLite, transactions are IMMEDIATE (settings): writers are serialized.
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {RuleTally._meta.db_table} IN EXCLUSIVE MODE")
    summaries = HostPosture.objects.values_list("rule_summary", flat=True)
    expected = cat.fleet_totals(summaries.iterator(chunk_size=200))
    current = {row[0]: row[1:] for row in RuleTally.objects.values_list("rule_id", *COLUMNS)}
    create, update = [], []
    for rule_id, values in sorted(expected.items()):
        row = RuleTally(rule_id=rule_id, **dict(zip(COLUMNS, values, strict=True)))
        if rule_id not in current:
            create.append(row)
        elif current[rule_id] != values:
            update.append(row)
    gone = sorted(current.keys() - expected.keys())  # a missing row reads as zero
    RuleTally.objects.bulk_create(create)
    RuleTally.objects.bulk_update(update, COLUMNS, batch_size=200)
    RuleTally.objects.filter(rule_id__in=gone).delete()
    return len(create) + len(update) + len(gone)


# --- Receivers: HostPosture rows written through the ORM -----------------------------------


def _before_save(instance: HostPosture, raw: bool, update_fields: Any, **kwargs: Any) -> None:
    # A fixture brings its own RuleTally rows; a save that leaves the summary out
    # (store_failure's health counters) cannot change the tallies.
    if raw or (update_fields is not None and "rule_summary" not in update_fields):
        return
    row = locked_summary(instance.pk)
    instance._summary_before_save = row[0] if row else None  # type: ignore[attr-defined]


def _after_save(instance: HostPosture, raw: bool, **kwargs: Any) -> None:
    if not raw and hasattr(instance, "_summary_before_save"):
        apply_delta(instance.__dict__.pop("_summary_before_save"), instance.rule_summary)


def _before_delete(instance: HostPosture, **kwargs: Any) -> None:
    # The row as committed, not the instance: the deletion collected it before taking any
    # lock, and a scan of the host may have replaced its summary since. Deletions run in a
    # transaction (Collector.delete), so the row is locked until it is gone.
    row = locked_summary(instance.pk)
    if row:
        apply_delta(row[0], None)


def connect() -> None:
    pre_save.connect(_before_save, sender=HostPosture, dispatch_uid="findings.tallies.before_save")
    post_save.connect(_after_save, sender=HostPosture, dispatch_uid="findings.tallies.after_save")
    pre_delete.connect(
        _before_delete, sender=HostPosture, dispatch_uid="findings.tallies.before_delete"
    )
