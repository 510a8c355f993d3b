"""Image inventories, the vulnerabilities matched in them, and people's decisions on those.

An inventory belongs to an image's content (rules.facts.layers_key), not to a host: the
same layers on a thousand hosts are read once. Hosts reach their inventories through
findings.Image.layers_key.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from vulndb.records import VulnSeverity


class ImageInventory(models.Model):
    class Status(models.TextChoices):
        READING = "reading", _("being read")
        ASSESSED = "assessed", _("assessed")
        NOT_ASSESSED = "not_assessed", _("not assessed")

    class Source(models.TextChoices):
        POSTURE = "posture", _("read by Posture")
        TRIVY = "trivy", _("Trivy report")
        CYCLONEDX = "cyclonedx", "CycloneDX SBOM"

    key = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READING)
    reason = models.CharField(max_length=500, blank=True)  # why not assessed, or what was left out
    mode = models.CharField(max_length=8, blank=True)  # os | deep
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.POSTURE)
    image_id = models.CharField(max_length=80, blank=True)  # the image it was read from
    image_name = models.CharField(max_length=255, blank=True)
    read_from = models.ForeignKey(
        "hosts.Host", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    os_id = models.CharField(max_length=64, blank=True)
    os_version = models.CharField(max_length=64, blank=True)
    os_name = models.CharField(max_length=255, blank=True)
    ecosystem = models.CharField(max_length=64, blank=True)  # "Debian:12"
    package_count = models.PositiveIntegerField(default=0)
    bytes_read = models.BigIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # A claim: the worker reading it holds it until then; past it another may take over.
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # vulndb's data generation this inventory's vulnerabilities were matched against: when
    # the data moves on, the inventory is matched again without reading any host.
    matched_generation = models.IntegerField(default=-1)
    matched_at = models.DateTimeField(null=True, blank=True)
    # setuid/setgid regular files, [[path, mode, uid, gid], ...], from the headers of every
    # layer (deep mode reads them all; null: not read, as in os mode). IMG-SETUID reads it.
    special_files = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["matched_generation"], name="inventory_generation")]

    def __str__(self) -> str:
        return self.image_name or self.key[:12]

    @property
    def assessed(self) -> bool:
        return self.status == self.Status.ASSESSED


class Package(models.Model):
    inventory = models.ForeignKey(ImageInventory, on_delete=models.CASCADE, related_name="packages")
    ecosystem = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    version = models.CharField(max_length=128)
    source_name = models.CharField(max_length=255, blank=True)
    source_version = models.CharField(max_length=128, blank=True)
    purl = models.CharField(max_length=512, blank=True)
    path = models.CharField(max_length=512, blank=True)
    license = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [models.Index(fields=["ecosystem", "name"], name="package_by_name")]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class ImageVulnerability(models.Model):
    """A vulnerability matched in an inventory's package (or reported by an uploaded scan)."""

    inventory = models.ForeignKey(
        ImageInventory, on_delete=models.CASCADE, related_name="vulnerabilities"
    )
    # The advisory that matched (DSA-5514-1, GHSA-…); `vuln` is the id people know it by
    # (its CVE when it has one) and groups advisories of the same flaw.
    advisory_id = models.CharField(max_length=128)
    vuln = models.CharField(max_length=128, db_index=True)
    ecosystem = models.CharField(max_length=64, blank=True)
    package_name = models.CharField(max_length=255)
    installed_version = models.CharField(max_length=128)
    fixed_version = models.CharField(max_length=128, blank=True)  # "" = no fix yet
    severity = models.PositiveSmallIntegerField(default=VulnSeverity.UNKNOWN)
    kev = models.BooleanField(default=False)
    epss = models.FloatField(null=True, blank=True)
    source = models.CharField(
        max_length=16, choices=ImageInventory.Source.choices, default=ImageInventory.Source.POSTURE
    )
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["inventory", "vuln", "package_name", "installed_version"],
                name="one_vulnerability_per_package",
            )
        ]
        indexes = [models.Index(fields=["severity", "kev"], name="vuln_urgency")]

    def __str__(self) -> str:
        return f"{self.vuln} in {self.package_name} {self.installed_version}"

    @property
    def severity_label(self) -> str:
        return VulnSeverity(self.severity).label

    @property
    def fixable(self) -> bool:
        return bool(self.fixed_version)


class VulnDecision(models.Model):
    """A person's triage of a vulnerability for a scope, as VEX states it.

    Keyed on the image *repository* (not its id or tag), so the decision survives new tags
    and rebuilds of the same repository."""

    class State(models.TextChoices):
        NOT_AFFECTED = "not_affected", _("not affected")
        ACCEPTED = "accepted", _("accepted risk")
        FALSE_POSITIVE = "false_positive", _("false positive")

    class Scope(models.TextChoices):
        REPOSITORY = "repository", _("image repository")
        PACKAGE = "package", _("package")
        LABEL = "label", _("host label")
        FLEET = "fleet", _("whole fleet")

    # OpenVEX's justifications for not_affected.
    class Justification(models.TextChoices):
        NONE = "", "—"
        COMPONENT_NOT_PRESENT = "component_not_present", _("component not present")
        CODE_NOT_PRESENT = "vulnerable_code_not_present", _("vulnerable code not present")
        NOT_IN_EXECUTE_PATH = (
            "vulnerable_code_not_in_execute_path",
            _("vulnerable code not in execute path"),
        )
        CANNOT_BE_CONTROLLED = (
            "vulnerable_code_cannot_be_controlled_by_adversary",
            _("vulnerable code cannot be controlled by adversary"),
        )
        MITIGATION_EXISTS = (
            "inline_mitigations_already_exist",
            _("inline mitigations already exist"),
        )

    vuln = models.CharField(max_length=128, db_index=True)
    state = models.CharField(max_length=16, choices=State.choices)
    justification = models.CharField(max_length=64, choices=Justification.choices, blank=True)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    # repository "registry.example/app", package "openssl", label "team=pay"; "" for fleet.
    scope_value = models.CharField(max_length=255, blank=True)
    reason = models.TextField()
    owner = models.CharField(max_length=150)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.vuln}: {self.get_state_display()} ({self.get_scope_display()})"

    def in_force(self, now: object = None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now  # type: ignore[operator]


class VulnOccurrence(models.Model):
    """A vulnerability open on a host, from the first scan that saw it to the first that did
    not (the image rebuilt, upgraded, removed, or the vulnerability triaged away): the
    history behind time-to-fix and the trends' counts. Written by vulns.history only."""

    host = models.ForeignKey("hosts.Host", on_delete=models.CASCADE, related_name="+")
    vuln = models.CharField(max_length=128)
    package_name = models.CharField(max_length=255)
    severity = models.PositiveSmallIntegerField(default=VulnSeverity.UNKNOWN)
    kev = models.BooleanField(default=False)
    fixable = models.BooleanField(default=False)
    opened_at = models.DateTimeField()
    fixed_at = models.DateTimeField(null=True, blank=True)
    # When new data made an open one urgent (added to KEV, a fix for a critical published):
    # alerts treat that scan like the one that opened it.
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["host", "fixed_at"], name="occurrence_open"),
            models.Index(fields=["fixed_at", "severity"], name="occurrence_fixed"),
        ]

    def __str__(self) -> str:
        return f"{self.vuln} ({self.package_name}) on host {self.host_id}"

    @staticmethod
    def urgent(severity: int, kev: bool, fixable: bool) -> bool:
        """What ops are alerted about: known exploited, or critical with a fix out."""
        return kev or (severity >= VulnSeverity.CRITICAL and fixable)


class HostVulnState(models.Model):
    """The digest of a host's open vulnerabilities at its last scan: an unchanged scan
    compares one row instead of reading every open occurrence (vulns.history)."""

    host = models.OneToOneField("hosts.Host", on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"host {self.host_id}: {self.digest[:12]}"
