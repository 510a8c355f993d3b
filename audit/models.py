from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise TypeError("the audit trail is append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        # The retention sweep deletes with its own statement (audit.retention); nothing
        # else in the application may.
        raise TypeError("the audit trail is append-only")


class AuditEvent(models.Model):
    """One security-relevant action: who, when, from where, what. Append-only: the
    application never updates or deletes a row (only the retention sweep deletes old ones;
    on PostgreSQL a trigger refuses anything else, audit/migrations)."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The account, kept as a name too: deleting a user must not rewrite who did what.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    # web, cli, worker, beat, api: where the action came from when no person did it.
    source = models.CharField(max_length=16, default="web")
    address = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=64, db_index=True)  # e.g. host.created
    target_type = models.CharField(max_length=64, blank=True)  # e.g. host
    target_id = models.CharField(max_length=200, blank=True)
    target_repr = models.CharField(max_length=300, blank=True)
    # {field: [before, after]}; secrets appear as "(replaced)", never as values.
    changes = models.JSONField(default=dict, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            # The audit page filtered by actor or by target, newest first.
            models.Index(fields=["actor_name", "-at"], name="audit_actor_idx"),
            models.Index(fields=["target_type", "target_id", "-at"], name="audit_target_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or self.source} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise TypeError("the audit trail is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("the audit trail is append-only")
