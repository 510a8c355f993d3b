"""The subscription form: a scope with its one parameter, a threshold, and delivery.

For a team-scoped account the labels may name only its teams: fan-out drops hosts outside
them anyway (alerts.services), and saying so here beats a subscription that never fires."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from access.scope import TEAM_LABEL
from access.scope import Scope as AccessScope
from alerts.models import Subscription
from hosts.forms import parse_label

Scope = Subscription.Scope


class SubscriptionForm(forms.ModelForm):
    class Meta:
        model = Subscription
        fields = [
            "scope",
            "owner_email",
            "label_selector",
            "name_pattern",
            "min_severity",
            "delivery",
            "quiet_start",
            "quiet_end",
            "time_zone",
        ]
        labels = {
            "scope": _("Hosts"),
            "owner_email": _("Owner email"),
            "label_selector": _("Labels"),
            "name_pattern": _("Host name pattern"),
            "min_severity": _("Minimum severity"),
            "delivery": _("Delivery"),
            "quiet_start": _("Quiet from"),
            "quiet_end": _("Quiet until"),
            "time_zone": _("Time zone"),
        }
        help_texts = {
            "owner_email": _("For “hosts I own”; empty means your own address."),
            "label_selector": _("key=value, comma-separated; every pair must match."),
            "name_pattern": _("For a fleet filter, e.g. pay-*."),
            "quiet_start": _("Local time, e.g. 22:00; messages wait for a digest after."),
        }
        widgets = {
            "quiet_start": forms.TimeInput(attrs={"type": "time"}),
            "quiet_end": forms.TimeInput(attrs={"type": "time"}),
        }

    def __init__(
        self,
        *args: Any,
        access: AccessScope | None = None,
        address: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.access = access or AccessScope.everything()
        # Where the mails would go; None when the caller does not say (not a person's form).
        self.address = address
        if not self.access.all_hosts:
            field = self.fields["scope"]
            field.choices = [  # type: ignore[attr-defined]
                (Scope.ALL, _("All hosts of my teams")) if value == Scope.ALL else (value, label)
                for value, label in field.choices  # type: ignore[attr-defined]
            ]
            teams = ", ".join(f"{TEAM_LABEL}={t}" for t in self.access.teams) or _("none")
            self.fields["label_selector"].help_text = _(
                "key=value, comma-separated; every pair must match. Your teams: %(teams)s."
            ) % {"teams": teams}

    def clean_label_selector(self) -> str:
        raw = self.cleaned_data.get("label_selector", "")
        pairs = []
        for part in (p.strip() for p in raw.split(",") if p.strip()):
            pair = parse_label(part)
            if pair is None:
                raise ValidationError(_("Write labels as key=value, e.g. team=payments."))
            key, value = pair
            if key == TEAM_LABEL and not self.access.allows_team(value):
                raise ValidationError(_("%(team)s is not one of your teams.") % {"team": value})
            pairs.append("=".join(pair))
        return ",".join(pairs)

    def clean_time_zone(self) -> str:
        name = self.cleaned_data.get("time_zone", "").strip() or "UTC"
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(_("Unknown time zone, e.g. Europe/Paris.")) from None
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.address == "":
            # Saved, it would send nothing, ever, while the page said "Subscription saved."
            raise ValidationError(
                _("Your account has no email address: alerts cannot be sent to you.")
            )
        scope = data.get("scope")
        if scope == Scope.LABEL and not data.get("label_selector"):
            self.add_error("label_selector", _("Give the team label, e.g. team=payments."))
        if scope == Scope.FILTER and not (data.get("label_selector") or data.get("name_pattern")):
            self.add_error("name_pattern", _("Give labels, a host name pattern, or both."))
        if (data.get("quiet_start") is None) != (data.get("quiet_end") is None):
            self.add_error("quiet_end", _("Give both ends of the quiet hours, or neither."))
        return data
