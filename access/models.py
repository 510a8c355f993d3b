from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from access.roles import Role

LABEL_VALUE = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
    _("Use letters, digits, dots, dashes and underscores, as in a host label value."),
)


class Team(models.Model):
    """A named group of people that owns the hosts labelled `team=<label>`."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    label = models.CharField(
        _("team label"),
        max_length=100,
        unique=True,
        validators=[LABEL_VALUE],
        help_text=_("The value of the hosts' `team` label, e.g. pay for team=pay."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class AccessProfile(models.Model):
    """A person's role and teams. A user without one is a viewer of the whole fleet; a
    superuser is an admin whatever this row says (createsuperuser makes the first admin)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_profile"
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)
    teams = models.ManyToManyField(
        Team, blank=True, related_name="members", verbose_name=_("teams")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("access profile")
        verbose_name_plural = _("access profiles")

    def __str__(self) -> str:
        return f"{self.user}: {self.role}"
