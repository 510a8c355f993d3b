"""Scan runs, the current picture of each host, findings as a lifecycle, and score history.

Row growth per scan of a host where nothing changed: one ScanRun, one ScoreSample, and an
update of HostPosture. Findings and inventory rows change only when the host does.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from hosts.models import Host
from scans.transports.errors import ErrorClass

ERROR_CHOICES = [(c.value, c.label) for c in ErrorClass]


class ScanRunQuerySet(models.QuerySet["ScanRun"]):
    def active(self) -> ScanRunQuerySet:
        return self.filter(status__in=ScanRun.ACTIVE)

    def for_host(self, host: Host) -> ScanRunQuerySet:
        return self.filter(host=host)


class ScanRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Scan now"
        CLI = "cli", "Command line"
        RERUN = "rerun", "Re-run after an interrupted scan"
        EXCEPTION = "exception", "Exception created, revoked or expired"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="scans")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.SCHEDULE)
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error_class = models.CharField(max_length=32, choices=ERROR_CHOICES, blank=True)
    error_detail = models.TextField(blank=True)
    engine_version = models.CharField(max_length=64, blank=True)
    api_version = models.CharField(max_length=16, blank=True)
    catalogue_version = models.CharField(max_length=16, blank=True)
    containers = models.PositiveIntegerField(null=True, blank=True)
    images = models.PositiveIntegerField(null=True, blank=True)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    grade = models.CharField(max_length=2, blank=True)
    # The schedule slot (the host's next_scan_at that was due) a scheduled scan fills: one
    # scan per (host, slot), so a second dispatcher or a replayed beat cannot fill it twice.
    cycle = models.DateTimeField(null=True, blank=True)
    # Attempts made on this run: transient errors are retried on the same row, with backoff.
    attempts = models.PositiveSmallIntegerField(default=0)
    # The host's lock expires here: a running scan past its lease lost its worker (SIGKILL,
    # OOM, reboot) and may be marked interrupted by whoever notices first.
    lease_until = models.DateTimeField(null=True, blank=True)

    objects = ScanRunQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            # One scan per host at a time, enforced by the database itself so that two
            # workers, a beat and a "Scan now" click can race without doubling a scan.
            models.UniqueConstraint(
                fields=["host"],
                condition=Q(status__in=["queued", "running"]),
                name="one_active_scan_per_host",
            ),
            models.UniqueConstraint(
                fields=["host", "cycle"],
                condition=Q(cycle__isnull=False),
                name="one_scan_per_host_cycle",
            ),
        ]
        indexes = [
            # Host page: the host's scan history, newest first.
            models.Index(fields=["host", "-requested_at"], name="scanrun_host_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"scan {self.pk} of {self.host_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def error(self) -> ErrorClass | None:
        return ErrorClass(self.error_class) if self.error_class else None


class HostPosture(models.Model):
    """The current picture of a host: written only by a complete, successful scan
    (the score part) or by any finished scan (the health part)."""

    host = models.OneToOneField(
        Host, on_delete=models.CASCADE, primary_key=True, related_name="posture"
    )
    current_scan = models.ForeignKey(
        ScanRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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
        ScanRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error_class = models.CharField(max_length=32, choices=ERROR_CHOICES, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            # Fleet page sorted by score.
            models.Index(fields=["score"], name="posture_score_idx"),
        ]

    def __str__(self) -> str:
        return f"posture of {self.host_id}: {self.score}"

    @property
    def failing_total(self) -> int:
        return self.failing_critical + self.failing_high + self.failing_medium + self.failing_low

    @property
    def error(self) -> ErrorClass | None:
        return ErrorClass(self.last_error_class) if self.last_error_class else None


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
        constraints = [
            models.UniqueConstraint(fields=["host", "container_id"], name="container_per_host")
        ]

    def __str__(self) -> str:
        return self.name


class Image(InventoryItem):
    image_id = models.CharField(max_length=80)
    tags = models.JSONField(default=list)
    history = models.JSONField(null=True, blank=True)

    class Meta:
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
    severity = models.PositiveSmallIntegerField()  # posture.rules.Severity
    subject_kind = models.CharField(max_length=16)  # daemon | container | image
    subject_key = models.CharField(max_length=80, blank=True)
    subject_name = models.CharField(max_length=255, blank=True)
    evidence = models.JSONField(default=list)  # [{"field": ..., "value": ...}]
    opened_at = models.DateTimeField(default=timezone.now)
    opened_scan = models.ForeignKey(ScanRun, null=True, on_delete=models.SET_NULL, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_scan = models.ForeignKey(
        ScanRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Risk exceptions: `accepted` is what the last scan decided (the failure left the score);
    # `exception` is the exception that accepted it, kept after it expires or is revoked so
    # the pages can say "exception expired on …".
    accepted = models.BooleanField(default=False)
    exception = models.ForeignKey(
        "exceptions.RiskException",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="findings",
    )

    objects = FindingQuerySet.as_manager()

    class Meta:
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
    scan = models.OneToOneField(ScanRun, null=True, on_delete=models.SET_NULL, related_name="+")
    taken_at = models.DateTimeField(default=timezone.now)
    score = models.PositiveSmallIntegerField(null=True)
    grade = models.CharField(max_length=2, blank=True)
    failing_critical = models.PositiveIntegerField(default=0)
    failing_high = models.PositiveIntegerField(default=0)
    failing_medium = models.PositiveIntegerField(default=0)
    failing_low = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            # Trend charts: one host's series over a period.
            models.Index(fields=["host", "taken_at"], name="score_host_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.host_id} {self.taken_at:%Y-%m-%d %H:%M} {self.score}"


class RuleTally(models.Model):
    """One rule's totals over every host's current picture: the sum of what each
    HostPosture.rule_summary contributes (posture.rules.catalogue.contribution), so the rule
    catalogue pages read a hundred small rows instead of every host's JSON summary.

    Kept by scans.tallies: store_success applies each scan's delta; receivers cover rows
    saved or deleted through the ORM (host deletion, admin, fixtures); the beat task
    rebuild_rule_tallies recomputes everything from the summaries, so drift heals. The row
    "*" (catalogue.HOSTS) counts the hosts with a picture in hosts_assessed; hosts not
    assessed are derived (those hosts - assessed - not applicable), so a rule with no row
    reads as "not assessed" everywhere."""

    # The key scans update by: no surrogate id (and no sequence spent by the inserts that
    # find the row already there).
    rule_id = models.CharField(max_length=64, primary_key=True)
    # Plain integers, not positive ones: a counter briefly below zero after drift must not
    # make a CHECK constraint fail the scan that writes it; the rebuild puts it right.
    passing = models.IntegerField(default=0)  # subjects, summed over hosts
    failing = models.IntegerField(default=0)
    hosts_assessed = models.IntegerField(default=0)
    hosts_failing = models.IntegerField(default=0)
    hosts_not_applicable = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.passing} pass, {self.failing} fail"


class RuleOverride(models.Model):
    """A team's decision to turn a rule off, or change its severity, for a host or for every
    host with a label. Shown with its reason wherever the rule's verdict is shown; the
    catalogue's defaults stay strict everywhere else."""

    class Action(models.TextChoices):
        DISABLE = "disable", "Turn off"
        SEVERITY = "severity", "Change severity"

    rule_id = models.CharField(max_length=64)
    host = models.ForeignKey(
        Host, null=True, blank=True, on_delete=models.CASCADE, related_name="rule_overrides"
    )
    label_key = models.CharField(max_length=63, blank=True)
    label_value = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    severity = models.PositiveSmallIntegerField(null=True, blank=True)  # posture.rules.Severity
    reason = models.TextField()
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["rule_id", "host__name", "label_key", "label_value"]
        constraints = [
            # Exactly one scope: a host, or a label selector.
            models.CheckConstraint(
                condition=(Q(host__isnull=False) & Q(label_key=""))
                | (Q(host__isnull=True) & ~Q(label_key="")),
                name="override_has_one_scope",
            ),
            models.CheckConstraint(
                condition=Q(action="disable", severity__isnull=True)
                | Q(action="severity", severity__isnull=False),
                name="override_severity_matches_action",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.action} for {self.scope_label}"

    @property
    def scope_label(self) -> str:
        return f"host {self.host.name}" if self.host else f"{self.label_key}={self.label_value}"
