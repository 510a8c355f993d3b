"""Trend storage and report subscriptions.

DailyScore is a rollup of ScoreSample: one row per host per day, the last sample of that
day. Fleet charts read it instead of the raw samples because 1,000 hosts scanned every 15
minutes write 96,000 samples a day; a 90-day chart would otherwise read 8.6 M rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from hosts.models import Host


class DailyScore(models.Model):
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="daily_scores")
    day = models.DateField()
    score = models.PositiveSmallIntegerField(null=True)
    grade = models.CharField(max_length=2, blank=True)
    taken_at = models.DateTimeField()  # of the sample this row copies

    class Meta:
        constraints = [
            # The rollup upserts on (host, day), so re-rolling a day is idempotent.
            models.UniqueConstraint(fields=["host", "day"], name="dailyscore_host_day"),
        ]
        indexes = [
            # Fleet series and comparisons: GROUP BY day over a date range (or a few days).
            models.Index(fields=["day"], name="dailyscore_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.host_id} {self.day} {self.score}"


class ReportSubscription(models.Model):
    class Period(models.TextChoices):
        WEEK = "week", _("Weekly (Mondays)")
        MONTH = "month", _("Monthly (on the 1st)")
        QUARTER = "quarter", _("Quarterly")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_subscriptions"
    )
    period = models.CharField(max_length=8, choices=Period.choices, default=Period.WEEK)
    team = models.CharField(max_length=255, blank=True, help_text=_("Empty: the whole fleet."))
    active = models.BooleanField(default=True)
    # Key of the last period sent ("2025-W03", "2025-03", "2025-Q1"): the claim a worker
    # compares-and-sets before sending, so each period goes out once.
    last_sent_period = models.CharField(max_length=16, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # send_due_reports: active subscriptions of one period kind.
            models.Index(fields=["active", "period"], name="reportsub_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.period} report for {self.user_id} ({self.team or 'fleet'})"
