"""The rule-override form: a rule, one scope (a host or a label), what to do, and why."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from hosts.forms import parse_label
from hosts.models import Host
from posture.rules import REGISTRY, Severity
from scans.models import RuleOverride


def rule_choices() -> list[tuple[str, str]]:
    return [(r.id, f"{r.id} — {r.title}") for r in sorted(REGISTRY.values(), key=lambda r: r.id)]


class RuleOverrideForm(forms.Form):
    rule_id = forms.ChoiceField(label=_("Rule"), choices=rule_choices)
    host = forms.ModelChoiceField(
        label=_("Host"),
        queryset=Host.objects.all(),
        required=False,
        to_field_name="name",
        help_text=_("Either a host…"),
    )
    label = forms.CharField(
        label=_("Label"),
        required=False,
        max_length=200,
        help_text=_("…or every host with this label, as key=value."),
    )
    action = forms.ChoiceField(label=_("Action"), choices=RuleOverride.Action.choices)
    severity = forms.TypedChoiceField(
        label=_("New severity"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—")] + [(s.value, s.label) for s in Severity],
    )
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=1000,
        help_text=_("Shown next to every verdict this changes."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        host, label = data.get("host"), (data.get("label") or "").strip()
        if bool(host) == bool(label):
            raise ValidationError(_("Choose either a host or a label, not both."))
        if label:
            pair = parse_label(label)
            if pair is None:
                raise ValidationError(_("Write the label as key=value, e.g. env=dev."))
            data["label_key"], data["label_value"] = pair
        if data.get("action") == RuleOverride.Action.SEVERITY and data.get("severity") is None:
            raise ValidationError(_("Pick the new severity."))
        if data.get("action") == RuleOverride.Action.DISABLE:
            data["severity"] = None
        if not (data.get("reason") or "").strip():
            raise ValidationError(_("Say why: the reason is shown with the verdicts."))
        return data

    def save(self, user: str) -> RuleOverride:
        data = self.cleaned_data
        return RuleOverride.objects.create(
            rule_id=data["rule_id"],
            host=data.get("host"),
            label_key=data.get("label_key", ""),
            label_value=data.get("label_value", ""),
            action=data["action"],
            severity=data.get("severity"),
            reason=data["reason"].strip(),
            created_by=user,
        )
