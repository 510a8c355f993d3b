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
        self.access = access or AccessScope.everything()
        # A choice, never free text: a typo in a typed team subscribed to an empty report
        # that mailed nothing useful. A scoped account picks among its teams; the others
        # among the teams hosts carry, or the whole fleet.
        self.teams = list(self.access.teams) if not self.access.all_hosts else (teams or [])
        whole = _("Whole fleet") if self.access.all_hosts else _("All my teams")
        self.fields["team"] = forms.CharField(
            label=_("Team"),
            required=False,
            widget=forms.Select(choices=[("", whole), *((t, t) for t in self.teams)]),
        )

    def clean_team(self) -> str:
        team = str(self.cleaned_data.get("team") or "").strip()
        if not team or team in self.teams:
            return team
        if not self.access.all_hosts and not self.access.allows_team(team):
            raise ValidationError(
                _("%(team)s is not one of your teams: choose one in the list.") % {"team": team}
            )
        raise ValidationError(
            _("No host has the team %(team)s: choose one in the list.") % {"team": team}
        )

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
