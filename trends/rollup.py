"""The daily rollups the trend charts and reports read instead of the raw rows.

DailyScore: each host's last sample of each day, copied once the day is over.
Rollups by label, per day and per team / env label values of the hosts at rollup time:
DailyFleetScore (DailyScore summed), DailyFindingFlow (findings opened and resolved, with
their resolution time) and DailyRuleFailing (hosts failing each rule at the end of the
day).

Run hourly by beat (trends.tasks.rollup_scores). Idempotent: a score day is upserted on
(host, day) and a day by label is deleted and rewritten in one transaction, so re-rolling
a day after a late scan corrects it. Today is never rolled: the pages read today live.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Min,
    Q,
    Sum,
    TextField,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from findings.models import Finding, ScoreSample
from trends.models import DailyFindingFlow, DailyFleetScore, DailyRuleFailing, DailyScore
from trends.queries import latest_samples
from trends.scope import Scope, day_start, label_text

# A first run backfills at most this far: the year-over-year comparison needs 365 days.
BACKFILL_DAYS = 400
# Finding days rolled per pass: each pass reads the findings open during its days once.
BATCH_DAYS = 31


def rollup_day(day: date) -> int:
    """Upsert one day's rows: one query to read, one to write, whatever the fleet size."""
    samples = latest_samples(Scope(), day_start(day), day_start(day + timedelta(days=1)))
    rows = [
        DailyScore(
            host_id=s["host_id"],
            day=day,
            score=s["score"],
            grade=s["grade"],
            taken_at=s["taken_at"],
        )
        for s in samples.values("host_id", "score", "grade", "taken_at")
    ]
    DailyScore.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["host", "day"],
        update_fields=["score", "grade", "taken_at"],
        batch_size=500,
    )
    return len(rows)


def rollup_scores(today: date | None = None) -> int:
    """Roll up every day from the last rolled one (again, it may have been partial)
    through yesterday, then the rollups by label (DailyFleetScore sums the DailyScore
    rows). Returns the number of score days rolled."""
    today = today or timezone.localdate()
    last = DailyScore.objects.aggregate(last=Max("day"))["last"]
    if last is None:
        first_at = ScoreSample.objects.aggregate(first=Min("taken_at"))["first"]
        last = today if first_at is None else timezone.localdate(first_at)
    day, rolled = max(last, today - timedelta(days=BACKFILL_DAYS)), 0
    while day < today:
        rollup_day(day)
        day += timedelta(days=1)
        rolled += 1
    rollup_by_labels(today)
    return rolled


def _groups(prefix: str = "host__") -> dict[str, Any]:
    """The team and env a row is filed under: its host's labels now, "" when absent."""
    return {
        key: Coalesce(label_text(key, f"{prefix}labels"), Value(""), output_field=TextField())
        for key in ("team", "env")
    }


def rollup_by_labels_days(first: date, last: date) -> int:
    """Rewrite the rollups by label of the days [first, last]: four statements to read,
    whatever the fleet size or the number of days, and one pass over the findings for all
    of them (a day at a time, a backfill would scan the table once per day)."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    start, end = day_start(first), day_start(last + timedelta(days=1))
    flows: dict[tuple[date, str, str, int], DailyFindingFlow] = {}

    def flow(row: Mapping[str, Any]) -> DailyFindingFlow:
        key = (row["day"], row["team"], row["env"], row["severity"])
        if key not in flows:
            flows[key] = DailyFindingFlow(
                day=key[0], team=key[1], env=key[2], severity=key[3], resolved_time=timedelta()
            )
        return flows[key]

    # TruncDate in TIME_ZONE: the same local days as day_start's boundaries.
    opened = (
        Finding.objects.filter(opened_at__gte=start, opened_at__lt=end)
        .values("severity", day=TruncDate("opened_at"), **_groups())
        .annotate(n=Count("*"))
    )
    for row in opened:
        flow(row).opened = row["n"]
    age = ExpressionWrapper(F("resolved_at") - F("opened_at"), output_field=DurationField())
    resolved = (
        Finding.objects.filter(resolved_at__gte=start, resolved_at__lt=end)
        .values("severity", day=TruncDate("resolved_at"), **_groups())
        .annotate(n=Count("*"), time=Sum(age))
    )
    for row in resolved:
        flow(row).resolved, flow(row).resolved_time = row["n"], row["time"]

    # Open at the end of each day (trends.live.open_at): one conditional count per day.
    ends = [day_start(day + timedelta(days=1)) for day in days]
    per_day: dict[str, Any] = {}
    for i, at in enumerate(ends):
        is_open = Q(opened_at__lte=at) & (Q(resolved_at__isnull=True) | Q(resolved_at__gt=at))
        per_day[f"h{i}"] = Count("host", distinct=True, filter=is_open)
        per_day[f"s{i}"] = Max("severity", filter=is_open)
    rows: Iterable[Mapping[str, Any]] = (
        Finding.objects.filter(opened_at__lte=ends[-1])
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=ends[0]))
        .values("rule_id", **_groups())
        .annotate(**per_day)
    )
    failing = [
        DailyRuleFailing(
            day=day,
            team=row["team"],
            env=row["env"],
            rule_id=row["rule_id"],
            severity=row[f"s{i}"],
            hosts=row[f"h{i}"],
        )
        for row in rows
        for i, day in enumerate(days)
        if row[f"h{i}"]
    ]
    scores = [
        DailyFleetScore(**row)
        for row in DailyScore.objects.filter(day__gte=first, day__lte=last, score__isnull=False)
        .values("day", **_groups())
        .annotate(hosts=Count("*"), score_sum=Sum("score"))
    ]
    with transaction.atomic():
        for model in (DailyFleetScore, DailyFindingFlow, DailyRuleFailing):
            model.objects.filter(day__gte=first, day__lte=last).delete()
        DailyFleetScore.objects.bulk_create(scores, batch_size=500)
        DailyFindingFlow.objects.bulk_create(flows.values(), batch_size=500)
        DailyRuleFailing.objects.bulk_create(failing, batch_size=500)
    return len(scores) + len(flows) + len(failing)


def rollup_by_labels(today: date | None = None) -> int:
    """Roll the rollups by label from their last rolled day (again: it may have been
    partial) through yesterday, BATCH_DAYS at a time. Returns the number of days rolled."""
    today = today or timezone.localdate()
    last = DailyFleetScore.objects.aggregate(last=Max("day"))["last"]
    if last is None:
        # A first run (or the first after an upgrade) covers what DailyScore covers, and
        # findings older than any score if there are (imported, or samples pruned).
        first_score = DailyScore.objects.aggregate(first=Min("day"))["first"]
        first_at = Finding.objects.aggregate(first=Min("opened_at"))["first"]
        firsts = [d for d in (first_score, first_at and timezone.localdate(first_at)) if d]
        if not firsts:
            return 0
        last = min(firsts)
    day, rolled = max(last, today - timedelta(days=BACKFILL_DAYS)), 0
    while day < today:
        until = min(day + timedelta(days=BATCH_DAYS - 1), today - timedelta(days=1))
        rollup_by_labels_days(day, until)
        rolled += (until - day).days + 1
        day = until + timedelta(days=1)
    return rolled
