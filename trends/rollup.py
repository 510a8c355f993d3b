"""The DailyScore rollup: each host's last sample of each day, copied once the day is over.

Run hourly by beat (trends.tasks.rollup_scores). Idempotent: a day is upserted on
(host, day), so re-rolling it after a late scan corrects it. Today is never rolled: the
charts read today's samples live.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Max, Min
from django.utils import timezone

from scans.models import ScoreSample
from trends.models import DailyScore
from trends.queries import latest_samples
from trends.scope import Scope, day_start

# A first run backfills at most this far: the year-over-year comparison needs 365 days.
BACKFILL_DAYS = 400


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
    through yesterday. Returns the number of days rolled."""
    today = today or timezone.localdate()
    last = DailyScore.objects.aggregate(last=Max("day"))["last"]
    if last is None:
        first_at = ScoreSample.objects.aggregate(first=Min("taken_at"))["first"]
        if first_at is None:
            return 0
        last = max(timezone.localdate(first_at), today - timedelta(days=BACKFILL_DAYS))
    day, rolled = last, 0
    while day < today:
        rollup_day(day)
        day += timedelta(days=1)
        rolled += 1
    return rolled
