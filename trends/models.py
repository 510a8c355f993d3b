"""Trend storage and report subscriptions.

DailyScore is a rollup of ScoreSample: one row per host per day, the last sample of that
day. Fleet charts read it instead of the raw samples because 1,000 hosts scanned every 15
minutes write 96,000 samples a day; a 90-day chart would otherwise read 8.6 M rows.
DailyFleetScore, DailyFindingFlow and DailyRuleFailing go one step further: per day and
team / env label values, so charts read a few rows a day (trends.rollup).
"""

from __future__ import annotations

from datetime import timedelta

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


class DailyFleetScore(models.Model):
    """DailyScore summed by the team and env labels the hosts had when the day was rolled
    up ("" when absent): the fleet score chart (score_sum / hosts) and the pass rates'
    denominator read ~25 rows a day instead of one per host."""

    day = models.DateField()
    team = models.TextField(blank=True)
    env = models.TextField(blank=True)
    hosts = models.PositiveIntegerField()  # with a score that day
    score_sum = models.PositiveIntegerField()

    class Meta:
        constraints = [
            # One row per group and day; its `day` prefix serves the charts' day ranges.
            models.UniqueConstraint(fields=["day", "team", "env"], name="fleetscore_day_group"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.team}/{self.env}: {self.hosts} hosts"


class DailyFindingFlow(models.Model):
    """Findings opened and resolved on one local day, by the team and env labels their host
    had when the day was rolled up, and severity. The charts, MTTR and report totals read
    a few thousand of these instead of ~500,000 findings."""

    day = models.DateField()
    team = models.TextField(blank=True)
    env = models.TextField(blank=True)
    severity = models.PositiveSmallIntegerField()  # rules.Severity
    opened = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    # Sum of resolved_at - opened_at of the findings resolved that day: MTTR is the sum of
    # these over a period divided by the sum of `resolved`.
    resolved_time = models.DurationField(default=timedelta)

    class Meta:
        constraints = [
            # One row per group and day; its `day` prefix serves the charts' day ranges.
            models.UniqueConstraint(
                fields=["day", "team", "env", "severity"], name="findingflow_day_group"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.team}/{self.env} {self.severity}: +{self.opened} -{self.resolved}"


class DailyRuleFailing(models.Model):
    """Hosts with a finding of a rule open at the end of one local day, by the team and env
    labels they had when the day was rolled up: the pass rates' numerator and the report's
    rules failing at the end of its period."""

    day = models.DateField()
    team = models.TextField(blank=True)
    env = models.TextField(blank=True)
    rule_id = models.CharField(max_length=64)
    severity = models.PositiveSmallIntegerField()  # the highest among the findings
    hosts = models.PositiveIntegerField()

    class Meta:
        constraints = [
            # Also what the readers need: pass rates (a few days x a few rules) and the
            # report (every rule of one day) both lead with `day`.
            models.UniqueConstraint(
                fields=["day", "rule_id", "team", "env"], name="rulefailing_day_rule_group"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.rule_id} {self.team}/{self.env}: {self.hosts}"


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
    # Set by the claim, cleared once SMTP took the mail: a claim older than the lease was made
    # by a worker that died, and the period is sent again (trends.services).
    sending_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # send_due_reports: active subscriptions of one period kind.
            models.Index(fields=["active", "period"], name="reportsub_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.period} report for {self.user_id} ({self.team or 'fleet'})"
