"""The current picture of each host, its inventory, findings as a lifecycle, and score
history: what a successful scan leaves behind (written by findings.store only).

Row growth per scan of a host where nothing changed: one ScoreSample and an update of
HostPosture. Findings and inventory rows change only when the host does.

The tables kept the names they had when these models lived in `scans` (db_table): moving a
model between apps is then a change of Django's state only, with no table rewritten.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from hosts.models import Host


class HostPosture(models.Model):
    """The current picture of a host: written only by a complete, successful scan
    (the score part) or by any finished scan (the health part)."""

    host = models.OneToOneField(
        Host, on_delete=models.CASCADE, primary_key=True, related_name="posture"
    )
    current_scan = models.ForeignKey(
        "scans.ScanRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    grade = models.CharField(max_length=2, blank=True)
    failing_critical = models.PositiveIntegerField(default=0)
    failing_high = models.PositiveIntegerField(default=0)
    failing_medium = models.PositiveIntegerField(default=0)
    failing_low = models.PositiveIntegerField(default=0)
    rules_assessed = models.PositiveIntegerField(default=0)
    rules_unknown = models.PositiveIntegerField(default=0)
    # rule id -> {"pass", "fail", "na", "unknown", "manual": n, "causes": {cause: n},
    # "reasons": [...]}: the current scan's only, overwritten by the next.
    rule_summary = models.JSONField(default=dict, blank=True)
    engine_version = models.CharField(max_length=64, blank=True)
    containers = models.PositiveIntegerField(default=0)
    images = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    # Health: updated by every finished scan, good or bad.
    last_scan = models.ForeignKey(
        "scans.ScanRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # A scans.transports.errors.ErrorClass value ("" after a success); scans.status reads it.
    last_error_class = models.CharField(max_length=32, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "scans_hostposture"
        indexes = [
            # Fleet page sorted by score.
            models.Index(fields=["score"], name="posture_score_idx"),
        ]

    def __str__(self) -> str:
        return f"posture of {self.host_id}: {self.score}"

    @property
    def failing_total(self) -> int:
        return self.failing_critical + self.failing_high + self.failing_medium + self.failing_low


class InventoryItem(models.Model):
    host = models.ForeignKey(Host, on_delete=models.CASCADE)
    name = models.CharField(max_length=255)
    inspect = models.JSONField(default=dict)  # redacted: no environment values
    digest = models.CharField(max_length=64)  # of inspect: unchanged items are not rewritten
    first_seen_at = models.DateTimeField(default=timezone.now)
    gone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class Container(InventoryItem):
    container_id = models.CharField(max_length=64)
    image_ref = models.CharField(max_length=255, blank=True)
    image_id = models.CharField(max_length=80, blank=True)
    state = models.CharField(max_length=32, blank=True)

    class Meta:
        db_table = "scans_container"
        constraints = [
            models.UniqueConstraint(fields=["host", "container_id"], name="container_per_host")
        ]

    def __str__(self) -> str:
        return self.name


class Image(InventoryItem):
    image_id = models.CharField(max_length=80)
    tags = models.JSONField(default=list)
    history = models.JSONField(null=True, blank=True)
    # rules.facts.layers_key: joins the host's image to its inventory (vulns), read once for
    # every host that has the same layers.
    layers_key = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta:
        db_table = "scans_image"
        constraints = [models.UniqueConstraint(fields=["host", "image_id"], name="image_per_host")]

    def __str__(self) -> str:
        return self.name


class FindingQuerySet(models.QuerySet["Finding"]):
    def open(self) -> FindingQuerySet:
        return self.filter(resolved_at__isnull=True)

    def for_host(self, host: Host) -> FindingQuerySet:
        return self.filter(host=host)


class Finding(models.Model):
    """A rule failing on a subject, from the scan that first saw it to the one that no longer
    did. Not copied on every scan: an open finding was seen by every successful scan of its
    host since opened_at, so its last sighting is the host's last_success_at."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="findings")
    rule_id = models.CharField(max_length=64)
    severity = models.PositiveSmallIntegerField()  # rules.Severity
    subject_kind = models.CharField(max_length=16)  # daemon | container | image
    subject_key = models.CharField(max_length=80, blank=True)
    subject_name = models.CharField(max_length=255, blank=True)
    evidence = models.JSONField(default=list)  # [{"field": ..., "value": ...}]
    opened_at = models.DateTimeField(default=timezone.now)
    opened_scan = models.ForeignKey(
        "scans.ScanRun", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_scan = models.ForeignKey(
        "scans.ScanRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Risk exceptions: `accepted` is what the last scan decided (the failure left the score);
    # `exception` is the exception that accepted it, kept after it expires or is revoked so
    # the pages can say "exception expired on …".
    accepted = models.BooleanField(default=False)
    exception = models.ForeignKey(
        "policy.RiskException",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="findings",
    )

    objects = FindingQuerySet.as_manager()

    class Meta:
        db_table = "scans_finding"
        constraints = [
            models.UniqueConstraint(
                fields=["host", "rule_id", "subject_kind", "subject_key"],
                condition=Q(resolved_at__isnull=True),
                name="one_open_finding_per_subject",
            )
        ]
        indexes = [
            # Host page and scan storage: a host's open findings.
            models.Index(fields=["host", "resolved_at"], name="finding_host_open_idx"),
            # Rule drill-downs across the fleet.
            models.Index(fields=["rule_id", "resolved_at"], name="finding_rule_open_idx"),
            # Trends: the per-day rollups (trends.rollup) and today's live figures
            # (trends.live) count findings opened / resolved in a range and their time to
            # remediate. Covering: host, severity and opened_at ride along, so these counts
            # over hundreds of thousands of past findings are index-only scans. (Open
            # findings by rule have a partial index made by trends' migration 0003.)
            models.Index(fields=["opened_at", "host"], name="finding_opened_host_idx"),
            models.Index(
                fields=["resolved_at", "severity", "opened_at", "host"],
                name="finding_resolved_cover_idx",
            ),
            # Trends and reports: the oldest open findings of a severity.
            models.Index(
                fields=["severity", "opened_at"],
                condition=Q(resolved_at__isnull=True),
                name="finding_open_sev_age_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.subject_name or 'daemon'}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class ScoreSample(models.Model):
    """One small row per successful scan: the series trends and reports read."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="score_samples")
    scan = models.OneToOneField(
        "scans.ScanRun", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    taken_at = models.DateTimeField(default=timezone.now)
    score = models.PositiveSmallIntegerField(null=True)
    grade = models.CharField(max_length=2, blank=True)
    failing_critical = models.PositiveIntegerField(default=0)
    failing_high = models.PositiveIntegerField(default=0)
    failing_medium = models.PositiveIntegerField(default=0)
    failing_low = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "scans_scoresample"
        indexes = [
            # Trend charts: one host's series over a period.
            models.Index(fields=["host", "taken_at"], name="score_host_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.host_id} {self.taken_at:%Y-%m-%d %H:%M} {self.score}"


class RuleContribution(models.Model):
    """What one host's current picture adds to one rule's fleet totals: the host's share of
    rules.catalogue.contribution(HostPosture.rule_summary), one row per rule it adds
    something to, plus the row "*" (catalogue.HOSTS) that counts the host itself.

    The rule catalogue pages sum these rows per rule (findings.tallies.fleet_stats, which
    keeps the sums until a revision changes) instead of loading every host's JSON summary.
    Written only by findings.store, for the host being stored, in the scan's transaction:
    a scan never writes (nor locks) a row of another host, unlike the per-rule totals every
    scan used to update (RuleTally, issue 10). The rows hang off the host's posture, so a
    host or posture deleted takes its share away with it and the sums stay exact without
    any receiver. `manage.py rebuild_rule_contributions`
    recomputes them from the summaries, after a write around the store (a restore, a bulk
    load), and reports what it corrected."""

    # The key the store reads and rewrites a host's rows by (and a host deleted drops them
    # by): no surrogate id, no sequence spent by the rows each changed scan recreates.
    pk = models.CompositePrimaryKey("posture", "rule_id")
    # HostPosture's key is the host's id: this column holds the host id. No index of its
    # own: the primary key starts with it.
    posture = models.ForeignKey(
        HostPosture, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    rule_id = models.CharField(max_length=64)
    passing = models.IntegerField(default=0)  # subjects
    failing = models.IntegerField(default=0)
    # 0 or 1 each: the host counts as assessed, failing or not applicable for the rule.
    hosts_assessed = models.IntegerField(default=0)
    hosts_failing = models.IntegerField(default=0)
    hosts_not_applicable = models.IntegerField(default=0)
    # Random, drawn anew on the host's row "*" whenever any of its rows changes: the count
    # and sum of these tell the pages whether the totals they keep are still current
    # (findings.tallies.fleet_stats). Random rather than a sequence or a clock: neither a
    # transaction committing late nor a test rolled back can make two states look alike.
    revision = models.IntegerField(default=0)

    class Meta:
        indexes = [
            # The pages' "has anything changed" check: count and sum of the hosts' revisions,
            # read from this index alone.
            models.Index(
                fields=["revision"], condition=Q(rule_id="*"), name="contribution_rev_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.posture_id}: {self.passing} pass, {self.failing} fail"
