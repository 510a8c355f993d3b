"""API tokens: a secret shown once, kept as its sha256, with a role and teams of its own."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from access.models import Team
from access.roles import Role


class ApiToken(models.Model):
    """`pst_<key>_<secret>`: the key (not secret) finds the row through a unique index, the
    secret is compared by its sha256 in constant time. A 256-bit random secret needs no slow
    hash: nobody can brute-force it from the digest, unlike a password."""

    key = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)  # sha256 hex of the whole token
    name = models.CharField(_("name"), max_length=100)
    # Whom the token acts as: its creator, or a service account an admin made it for.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    # Who issued it: the token is never wider than this account, at creation and at use.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="issued_api_tokens"
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)
    # Kept apart from `teams` so that deleting its last team leaves a token seeing nothing,
    # never the whole fleet.
    scoped = models.BooleanField(default=False)
    teams = models.ManyToManyField(Team, blank=True, related_name="+", verbose_name=_("teams"))
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    last_used_at = models.DateTimeField(null=True, blank=True)
    uses = models.PositiveBigIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} (pst_{self.key}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
