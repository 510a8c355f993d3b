"""The report subscription form: which period, which team, for the signed-in user; a
team-scoped account picks one of its teams or all of them, nothing else."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from access.scope import Scope as AccessScope
from trends.models import ReportSubscription


class ReportSubscriptionForm(forms.ModelForm):
    class Meta:
        model = ReportSubscription
        fields = ["period", "team"]
        labels = {"period": _("Period"), "team": _("Team")}
        help_texts = {"team": _("Empty: the whole fleet.")}

    def __init__(
        self,
        *args: Any,
        user: Any,
        teams: list[str] | None = None,
        access: AccessScope | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.user = user
        self.teams = teams or []
        if access is not None and not access.all_hosts:
            # Mail is computed with the subscriber's scope anyway (trends.services); the
            # choice says so up front instead of accepting a team that would never send.
            self.teams = []
            self.fields["team"] = forms.ChoiceField(
                label=_("Team"),
                required=False,
                choices=[("", _("All my teams")), *((t, t) for t in access.teams)],
                error_messages={
                    "invalid_choice": _("%(value)s is not one of your teams."),
                },
            )
            return
        # A team nobody carries today is still allowed (it may be about to be labelled),
        # so the menu is a suggestion list, not a choice field.
        self.fields["team"].widget.attrs["list"] = "report-teams"

    def clean_team(self) -> str:
        return str(self.cleaned_data.get("team") or "").strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not (getattr(self.user, "email", "") or "").strip():
            # send_due_reports skips users without an address: saying so here beats a
            # subscription that silently never sends.
            raise ValidationError(_("Your account has no email address: reports cannot be sent."))
        period, team = data.get("period"), data.get("team", "")
        if (
            period
            and ReportSubscription.objects.filter(user=self.user, period=period, team=team).exists()
        ):
            raise ValidationError(_("You already receive this report."))
        return data
