"""The token form: a name, a role and teams no wider than the creator's, an expiry."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import MaxValueValidator, RegexValidator
from django.utils.translation import gettext_lazy as _

from access.models import Team
from access.roles import Role
from access.services import Access
from api.tokens import RANK, max_days, scope_errors

DEFAULT_DAYS = 90
SERVICE_NAME = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
    _("Use letters, digits, dots, dashes and underscores."),
)


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What uses it, e.g. “GitLab CI of the payments repo”."),
    )
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    teams = forms.ModelMultipleChoiceField(
        label=_("Teams"),
        queryset=Team.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None: every host your role lets you see."),
    )
    days = forms.IntegerField(
        label=_("Expires in (days)"),
        min_value=1,
        initial=DEFAULT_DAYS,
    )

    def __init__(self, *args: Any, access: Access, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access = access
        self.fields["days"].validators.append(MaxValueValidator(max_days()))
        self.fields["days"].widget.attrs["max"] = max_days()
        self.fields["days"].help_text = _("At most %(days)s.") % {"days": max_days()}
        mine = RANK.get(Role(access.role), -1) if access.role else -1
        role_field: forms.ChoiceField = self.fields["role"]  # type: ignore[assignment]
        role_field.choices = [
            (value, label) for value, label in Role.choices if RANK[Role(value)] <= mine
        ]
        self.fields["role"].initial = Role.VIEWER
        if not access.scope.all_hosts:
            teams: forms.ModelMultipleChoiceField = self.fields["teams"]  # type: ignore[assignment]
            teams.queryset = Team.objects.filter(label__in=access.scope.teams)
            self.fields["teams"].help_text = _("One or more of your teams.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "role" in data:
            for field, message in scope_errors(
                self.access, Role(data["role"]), list(data.get("teams") or [])
            ).items():
                self.add_error(field, message)
        return data


class ServiceTokenForm(TokenForm):
    """An admin's token for a service account: an account that has no password (it cannot
    sign in) and acts only through its tokens. Made here when the name is new."""

    account = forms.CharField(
        label=_("Service account"),
        max_length=100,
        validators=[SERVICE_NAME],
        help_text=_("A new name makes a service account; an existing one must be one."),
    )

    field_order = ["account", "name", "role", "teams", "days"]

    def clean_account(self) -> str:
        name: str = self.cleaned_data["account"]
        user = get_user_model().objects.filter(username=name).first()
        if user is not None and user.has_usable_password():
            raise forms.ValidationError(
                _("%(name)s is a person's account: a token for it would act as them."),
                params={"name": name},
            )
        return name


class RevokeForm(forms.Form):
    """The confirmation: a POST with the CSRF token, nothing else."""
