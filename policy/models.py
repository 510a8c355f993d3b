"""Risk exceptions: a person accepts, until a date, that a rule fails on some subjects.

Accepted failures stay findings (shown as accepted, with reason, owner and expiry) but leave
the score; see policy.exceptions for when that takes effect.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from hosts.models import Host
from policy import matching
from rules import REGISTRY
from rules.base import Scope

EXPIRING_DAYS = 30


class Review(models.TextChoices):
    PENDING = "pending", _("pending approval")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")


def _user_fk() -> models.ForeignKey:  # type: ignore[type-arg]
    # SET_NULL: an account deleted later must not take the decisions it took with it (the
    # audit trail keeps its name).
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )


class Reviewed(models.Model):
    """Who asked for a policy decision and who approved or rejected it (four eyes:
    policy.approval). Only an approved decision applies to scores.

    The default is "approved" for rows written outside policy.approval (the migration's old
    rows, fixtures, demo data): the web's only way in, policy.approval.submit, always says
    which it is. The admin cannot add one."""

    status = models.CharField(max_length=16, choices=Review.choices, default=Review.APPROVED)
    requested_by = _user_fk()  # null: made before issue 12, see created_by
    approved_by = _user_fk()
    approved_at = models.DateTimeField(null=True, blank=True)
    rejected_by = _user_fk()
    rejected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_pending(self) -> bool:
        return self.status == Review.PENDING

    @property
    def is_approved(self) -> bool:
        return self.status == Review.APPROVED


class RiskExceptionQuerySet(models.QuerySet["RiskException"]):
    def active(self, now: datetime) -> RiskExceptionQuerySet:
        return self.filter(status=Review.APPROVED, revoked_at__isnull=True, expires_at__gt=now)

    def pending(self, now: datetime) -> RiskExceptionQuerySet:
        """Waiting for an approver, and still worth approving (not past its expiry)."""
        return self.filter(status=Review.PENDING, revoked_at__isnull=True, expires_at__gt=now)

    def expiring(self, now: datetime, days: int = EXPIRING_DAYS) -> RiskExceptionQuerySet:
        return self.active(now).filter(expires_at__lte=now + timedelta(days=days))

    def expired(self, now: datetime) -> RiskExceptionQuerySet:
        return self.filter(status=Review.APPROVED, revoked_at__isnull=True, expires_at__lte=now)

    def revoked(self) -> RiskExceptionQuerySet:
        return self.filter(revoked_at__isnull=False)

    def rejected(self) -> RiskExceptionQuerySet:
        return self.filter(status=Review.REJECTED)


class RiskException(Reviewed):
    class State(models.TextChoices):
        ACTIVE = "active", _("active")
        PENDING = "pending", _("pending approval")
        REJECTED = "rejected", _("rejected")
        EXPIRED = "expired", _("expired")
        REVOKED = "revoked", _("revoked")

    rule_id = models.CharField(max_length=64)
    # Scope: every criterion given must match (host or label selects hosts; a container or
    # image pattern selects subjects on them); at least one is given.
    host = models.ForeignKey(
        Host, null=True, blank=True, on_delete=models.CASCADE, related_name="risk_exceptions"
    )
    label_key = models.CharField(max_length=63, blank=True)
    label_value = models.CharField(max_length=255, blank=True)
    container_pattern = models.CharField(max_length=matching.PATTERN_MAX, blank=True)
    image_pattern = models.CharField(max_length=matching.PATTERN_MAX, blank=True)
    reason = models.TextField()
    owner = models.CharField(max_length=254)  # a name, a team or an email address
    expires_at = models.DateTimeField()
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True)
    # Set (compare-and-set) by the beat task once it has queued rescans of the hosts this
    # exception covered: each expiry is handled once, whatever beat's timing.
    expiry_handled_at = models.DateTimeField(null=True, blank=True)

    objects = RiskExceptionQuerySet.as_manager()

    class Meta:
        db_table = "exceptions_riskexception"
        ordering = ["expires_at", "id"]
        verbose_name = _("exception")
        constraints = [
            models.CheckConstraint(
                condition=Q(host__isnull=False)
                | ~Q(label_key="")
                | ~Q(container_pattern="")
                | ~Q(image_pattern=""),
                name="exception_has_a_scope",
            ),
            models.CheckConstraint(
                condition=Q(label_key="", label_value="") | (~Q(label_key="") & ~Q(label_value="")),
                name="exception_label_is_a_pair",
            ),
        ]
        indexes = [
            # Scan time: the unrevoked exceptions still in force (expires_at > now).
            models.Index(
                fields=["expires_at"],
                condition=Q(revoked_at__isnull=True),
                name="exception_unrevoked_idx",
            ),
            # Beat: expired exceptions whose rescans have not been queued yet.
            models.Index(
                fields=["expires_at"],
                condition=Q(revoked_at__isnull=True, expiry_handled_at__isnull=True),
                name="exception_expiry_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} accepted for {self.scope_label}"

    def clean(self) -> None:
        errors = []
        for pattern in (self.container_pattern, self.image_pattern):
            if pattern and (error := matching.pattern_error(pattern)):
                errors.append(error)
        rule = REGISTRY.get(self.rule_id)
        errors += matching.scope_errors(
            rule_scope=rule.scope if rule else None,
            has_host=self.host_id is not None,
            label_key=self.label_key,
            container_pattern=self.container_pattern,
            image_pattern=self.image_pattern,
        )
        if errors:
            raise ValidationError(errors)

    @property
    def scope_label(self) -> str:
        parts = []
        if self.host is not None:
            parts.append(f"host {self.host.name}")
        if self.label_key:
            parts.append(f"{self.label_key}={self.label_value}")
        if self.container_pattern:
            parts.append(f"container {self.container_pattern}")
        if self.image_pattern:
            parts.append(f"image {self.image_pattern}")
        return ", ".join(parts)

    @property
    def scope_text(self) -> str:
        """scope_label in the reader's language, for pages and messages (records keep the
        English of scope_label)."""
        parts = []
        if self.host is not None:
            parts.append(gettext("host %(name)s") % {"name": self.host.name})
        if self.label_key:
            parts.append(f"{self.label_key}={self.label_value}")
        if self.container_pattern:
            parts.append(gettext("container %(pattern)s") % {"pattern": self.container_pattern})
        if self.image_pattern:
            parts.append(gettext("image %(pattern)s") % {"pattern": self.image_pattern})
        return ", ".join(parts)

    @property
    def summary(self) -> str:
        """What a confirmation says it saved, in the reader's language."""
        return gettext("%(rule)s accepted for %(scope)s") % {
            "rule": self.rule_id,
            "scope": self.scope_text,
        }

    def state(self, now: datetime | None = None) -> str:
        if self.revoked_at is not None:
            return self.State.REVOKED
        if self.status == Review.REJECTED:
            return self.State.REJECTED
        if self.expires_at <= (now or timezone.now()):
            return self.State.EXPIRED
        if self.status == Review.PENDING:
            return self.State.PENDING
        return self.State.ACTIVE

    @property
    def current_state(self) -> str:
        return self.state()

    @property
    def is_active(self) -> bool:
        return self.state() == self.State.ACTIVE

    def covers(self, kind: Scope, name: str, image_refs: tuple[str, ...]) -> bool:
        """Whether this exception covers a subject on a host it applies to."""
        return matching.subject_matches(
            kind=kind,
            name=name,
            image_refs=image_refs,
            container_pattern=self.container_pattern,
            image_pattern=self.image_pattern,
        )


class RuleOverrideQuerySet(models.QuerySet["RuleOverride"]):
    def approved(self) -> RuleOverrideQuerySet:
        return self.filter(status=Review.APPROVED)

    def pending(self) -> RuleOverrideQuerySet:
        return self.filter(status=Review.PENDING)


class RuleOverride(Reviewed):
    """A team's decision to turn a rule off, or change its severity, for a host or for every
    host with a label. Shown with its reason wherever the rule's verdict is shown; the
    catalogue's defaults stay strict everywhere else."""

    class Action(models.TextChoices):
        DISABLE = "disable", _("Turn off")
        SEVERITY = "severity", _("Change severity")

    rule_id = models.CharField(max_length=64)
    host = models.ForeignKey(
        Host, null=True, blank=True, on_delete=models.CASCADE, related_name="rule_overrides"
    )
    label_key = models.CharField(max_length=63, blank=True)
    label_value = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    severity = models.PositiveSmallIntegerField(null=True, blank=True)  # rules.Severity
    reason = models.TextField()
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = RuleOverrideQuerySet.as_manager()

    class Meta:
        db_table = "scans_ruleoverride"
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

    @property
    def summary(self) -> str:
        """What a confirmation says it saved, in the reader's language."""
        scope = (
            gettext("host %(name)s") % {"name": self.host.name}
            if self.host
            else f"{self.label_key}={self.label_value}"
        )
        values = {"rule": self.rule_id, "scope": scope}
        if self.action == self.Action.DISABLE:
            return gettext("%(rule)s turned off for %(scope)s") % values
        return gettext("%(rule)s re-graded for %(scope)s") % values
