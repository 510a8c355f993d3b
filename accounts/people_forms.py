"""Forms of the user and team pages (admins only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils.translation import gettext_lazy as _

from access.models import Team
from access.roles import Role


def _teams_field() -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        label=_("Teams"),
        queryset=Team.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "An operator sees only the hosts of their teams; a viewer or security account "
            "given teams is limited to them too. Admins always see everything."
        ),
    )


class UserCreateForm(forms.ModelForm):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.VIEWER)
    teams = _teams_field()

    class Meta:
        model = get_user_model()
        fields = ["username", "email"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True


class UserEditForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    teams = _teams_field()
    active = forms.BooleanField(
        label=_("Active"),
        required=False,
        help_text=_("An inactive account cannot sign in; its open sessions end at once."),
    )

    def __init__(
        self, *args: Any, target: AbstractBaseUser, editor: AbstractBaseUser, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self.target = target
        self.editor = editor

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        role = cleaned.get("role")
        # An admin locking themselves out would leave nobody to undo it on a small install.
        if self.target.pk == self.editor.pk:
            if role and role != Role.ADMIN:
                self.add_error("role", _("You cannot take the admin role away from yourself."))
            if not cleaned.get("active"):
                self.add_error("active", _("You cannot deactivate your own account."))
        if getattr(self.target, "is_superuser", False) and role and role != Role.ADMIN:
            self.add_error(
                "role",
                _(
                    "This account is a superuser, an admin whatever its role says: "
                    "take that status away in Django's admin first."
                ),
            )
        return cleaned


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name", "label"]


class ConfirmForm(forms.Form):
    """A deliberate second click: the delete button posts it."""

    confirm = forms.BooleanField(required=True)
