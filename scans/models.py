"""Scan runs, the current picture of each host, findings as a lifecycle, and score history.

Row growth per scan of a host where nothing changed: one ScanRun, one ScoreSample, and an
update of HostPosture. Findings and inventory rows change only when the host does.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from hosts.models import Host
from scans.transports.errors import LABELS, ErrorClass

# The lazy labels: a display in the reader's language.
ERROR_CHOICES = [(c.value, LABELS[c][0]) for c in ErrorClass]


class ScanRunQuerySet(models.QuerySet["ScanRun"]):
    def active(self) -> ScanRunQuerySet:
        return self.filter(status__in=ScanRun.ACTIVE)

    def for_host(self, host: Host) -> ScanRunQuerySet:
        return self.filter(host=host)


class ScanRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        INTERRUPTED = "interrupted", _("Interrupted")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Schedule")
        MANUAL = "manual", _("Scan now")
        CLI = "cli", _("Command line")
        RERUN = "rerun", _("Re-run after an interrupted scan")
        EXCEPTION = "exception", _("Exception created, revoked or expired")

    class HostAccess(models.TextChoices):
        LOCAL = "local", _("Read on the worker's machine")
        SSH = "ssh", _("Read over SSH")
        NONE = "none", _("Not read")

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
    # How the host-level checks saw the host's files ("" on runs before this existed, and
    # on failed runs): the host page says where its CIS 1 and 3 verdicts come from.
    host_access = models.CharField(max_length=8, choices=HostAccess.choices, blank=True)
    # Why a unix:// daemon's host was not read on the worker's machine (scans.hostlocal).
    host_access_note = models.CharField(max_length=255, blank=True)
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
            # /metrics: scans finished in the last 15 minutes, and the last one to finish.
            models.Index(fields=["finished_at"], name="scanrun_finished_idx"),
        ]

    def __str__(self) -> str:
        return f"scan {self.pk} of {self.host_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def error(self) -> ErrorClass | None:
        return ErrorClass(self.error_class) if self.error_class else None
