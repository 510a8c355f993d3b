"""Imported vulnerability data: OSV advisories and the packages they affect, the CISA KEV
catalogue, FIRST EPSS scores, a record of every import, and the data generation.

Written only by vulndb.importer. Readers that keep something derived from this data (image
inventories matched against it) store the generation they used and are matched again when
current_generation() moves on.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone

from vulndb.records import VulnSeverity

SEVERITY_CHOICES = [(s.value, s.label) for s in VulnSeverity]


class Advisory(models.Model):
    id = models.CharField(max_length=128, primary_key=True)  # "DSA-5514-1", "GHSA-…"
    modified = models.DateTimeField()
    published = models.DateTimeField(null=True, blank=True)
    summary = models.TextField(blank=True)
    details = models.TextField(blank=True)
    aliases = models.JSONField(default=list, blank=True)
    upstream = models.JSONField(default=list, blank=True)  # what it derives from (Debian)
    # The CVE when the record names one (records.Advisory.group): the fleet page's unit.
    group = models.CharField(max_length=128, db_index=True)
    severity = models.PositiveSmallIntegerField(
        choices=SEVERITY_CHOICES, default=VulnSeverity.UNKNOWN
    )
    # Debian's DSA/DLA records carry no severity: they take the highest of their group's
    # (the CVE or GHSA record's). The id it was taken from; blank when the record's own.
    severity_from = models.CharField(max_length=128, blank=True)
    cvss_vector = models.CharField(max_length=255, blank=True)
    cvss_score = models.FloatField(null=True, blank=True)
    references = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=160, blank=True)  # "osv:all.zip", the import's label

    class Meta:
        verbose_name_plural = "advisories"

    def __str__(self) -> str:
        return self.id


class AffectedPackage(models.Model):
    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="affected")
    ecosystem = models.CharField(max_length=64)  # "Debian:12", "PyPI"
    name = models.CharField(max_length=255)  # vulndb.matching.normalise_name()
    # [{"type": "ECOSYSTEM", "events": [["introduced", "0"], ["fixed", "2.36-9+deb12u3"]]}]
    ranges = models.JSONField(default=list, blank=True)
    versions = models.JSONField(default=list, blank=True)
    fixed = models.JSONField(default=list, blank=True)  # for display only

    class Meta:
        indexes = [
            # vulndb.index loads one ecosystem at a time; pages look a package up by name.
            models.Index(fields=["ecosystem", "name"], name="affected_by_package"),
        ]

    def __str__(self) -> str:
        return f"{self.ecosystem}/{self.name}"


class KevEntry(models.Model):
    """One CVE of CISA's Known Exploited Vulnerabilities catalogue."""

    cve = models.CharField(max_length=32, primary_key=True)
    vendor = models.CharField(max_length=255, blank=True)
    product = models.CharField(max_length=255, blank=True)
    name = models.CharField(max_length=500, blank=True)
    date_added = models.DateField()
    due_date = models.DateField(null=True, blank=True)
    ransomware = models.BooleanField(default=False)  # knownRansomwareCampaignUse == "Known"
    short_description = models.TextField(blank=True)

    class Meta:
        verbose_name = "KEV entry"
        verbose_name_plural = "KEV entries"

    def __str__(self) -> str:
        return self.cve


class EpssScore(models.Model):
    cve = models.CharField(max_length=32, primary_key=True)
    score = models.FloatField()  # probability of exploitation in the next 30 days
    percentile = models.FloatField()
    scored_on = models.DateField()

    class Meta:
        verbose_name = "EPSS score"

    def __str__(self) -> str:
        return f"{self.cve}: {self.score:.5f}"


class DataImport(models.Model):
    """One input of one `vulndb import` (a zip, a folder's OSV files, a KEV or EPSS file)."""

    class Kind(models.TextChoices):
        OSV = "osv", "OSV"
        KEV = "kev", "CISA KEV"
        EPSS = "epss", "FIRST EPSS"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    label = models.CharField(max_length=500)  # the path it was read from
    imported_at = models.DateTimeField(default=timezone.now)
    # The data's own date: the newest `modified` (OSV), dateReleased (KEV), score_date (EPSS).
    data_date = models.DateTimeField(null=True, blank=True)
    added = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)  # withdrawn, or gone from KEV / EPSS
    # sha256 of the file: the same file again is skipped without reading it (blank: folder).
    digest = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)  # {"rejections": [[where, why], …]}

    class Meta:
        indexes = [
            # freshness: the newest data date per kind; the importer: "seen this file?"
            models.Index(fields=["kind", "data_date"], name="import_by_kind_date"),
            models.Index(fields=["digest"], name="import_by_digest"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.label} at {self.imported_at:%Y-%m-%d %H:%M}"

    @property
    def changed(self) -> int:
        return self.added + self.updated + self.removed


class DataState(models.Model):
    """A single row (pk 1): the data generation, moved by every import that changed
    something, and the drop folder's last fingerprint (vulndb.tasks)."""

    generation = models.PositiveIntegerField(default=0)
    changed_at = models.DateTimeField(null=True, blank=True)
    drop_fingerprint = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"vulnerability data generation {self.generation}"


def data_version() -> tuple[int, datetime | None]:
    """The generation with the time it moved: what in-process caches key on (a generation
    number alone can come back after a rollback, as between tests)."""
    row = DataState.objects.filter(pk=1).values_list("generation", "changed_at").first()
    return row or (0, None)


def current_generation() -> int:
    """The data generation: it only grows, by one or more, whenever imported data changes
    (an inventory matched against an older one is matched again)."""
    row = DataState.objects.filter(pk=1).values_list("generation", flat=True).first()
    return row or 0
