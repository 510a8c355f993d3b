"""The policy forms: a risk exception (a rule, a scope, why, who answers for it, and until
when) and a rule profile override (turn a rule off or re-grade it for a host or a label)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from access.scope import Scope
from findings import vocabulary
from hosts.forms import parse_label
from hosts.models import Host
from policy import exceptions as services
from policy import matching, overrides, scoping
from policy.models import RiskException, RuleOverride
from rules import REGISTRY

# An exception is a dated decision, to be taken again: a year at most.
MAX_DAYS = 366
# One click for the usual review periods (RiskExceptionForm.expires_in); a date typed in the
# field wins over them.
DEFAULT_PRESET = "90"


def start_of(day: date) -> datetime:
    """An exception dated D stops applying at 00:00 on D, in the server's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def rule_choices() -> list[tuple[str, str]]:
    # Called each time a form is drawn: the titles are in the language of that request.
    rules = sorted(REGISTRY.values(), key=lambda r: r.id)
    return [(r.id, f"{r.id} — {vocabulary.rule_title(r)}") for r in rules]


class ScopedForm(forms.Form):
    """A policy form for an account of `scope`: its host field offers (and accepts) the hosts
    of that scope only, so a forged name of another team's host is "no host of that name",
    and the decision must stay on the scope (policy.scoping.may_target)."""

    host: forms.ModelChoiceField  # type: ignore[type-arg]

    def __init__(self, *args: Any, scope: Scope | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.host_scope = scope or Scope.everything()
        self.fields["host"].queryset = scoping.hosts_of(self.host_scope)  # type: ignore[attr-defined]

    def check_target(self, host: Host | None, label_key: str, label_value: str) -> None:
        if not scoping.may_target(self.host_scope, host, label_key, label_value):
            self.add_error(None, scoping.target_error(self.host_scope))


class RiskExceptionForm(ScopedForm):
    rule_id = forms.ChoiceField(label=_("Rule"), choices=rule_choices)
    host = forms.ModelChoiceField(
        label=_("Host"),
        queryset=Host.objects.all(),
        required=False,
        to_field_name="name",
        # A name typed with the fleet's names offered (a datalist), not a <select>: with
        # 1,000 hosts, rendering a thousand <option> widgets was most of the page's time.
        widget=forms.TextInput(attrs={"list": "exception-hosts", "autocomplete": "off"}),
        error_messages={"invalid_choice": _("No host of that name.")},
        help_text=_("Only on this host (optional)."),
    )
    label = forms.CharField(
        label=_("Label"),
        required=False,
        max_length=200,
        help_text=_("Only on hosts with this label, as key=value (optional)."),
    )
    container_pattern = forms.CharField(
        label=_("Container name pattern"),
        required=False,
        max_length=matching.PATTERN_MAX,
        help_text=_("Glob on the container name, e.g. payments-*."),
    )
    image_pattern = forms.CharField(
        label=_("Image pattern"),
        required=False,
        max_length=matching.PATTERN_MAX,
        help_text=_("Glob on the image reference, e.g. registry.example/legacy/*."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=1000,
        help_text=_("Why the risk is accepted; shown with every accepted finding."),
    )
    owner = forms.CharField(
        label=_("Owner"),
        max_length=254,
        help_text=_("Who answers for it: a name, a team or an email address."),
    )
    expires_in = forms.TypedChoiceField(
        label=_("Expires in"),
        choices=[("30", _("30 days")), ("90", _("90 days")), ("180", _("180 days"))],
        coerce=int,
        required=False,
        empty_value=None,
        widget=forms.RadioSelect,
    )
    expires_on = forms.DateField(
        label=_("or on a date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_(
            "The findings count again from this date (a year at most); a date here wins "
            "over the choice above."
        ),
    )

    def clean_label(self) -> tuple[str, str]:
        label = (self.cleaned_data.get("label") or "").strip()
        if not label:
            return "", ""
        pair = parse_label(label)
        if pair is None:
            raise ValidationError(_("Write the label as key=value, e.g. env=dev."))
        return pair

    def _pattern(self, name: str) -> str:
        pattern = (self.cleaned_data.get(name) or "").strip()
        if pattern and (error := matching.pattern_error(pattern)):
            raise ValidationError(error)
        return pattern

    def clean_container_pattern(self) -> str:
        return self._pattern("container_pattern")

    def clean_image_pattern(self) -> str:
        return self._pattern("image_pattern")

    def clean_expires_on(self) -> date | None:
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        today = timezone.localdate()
        if day <= today:
            raise ValidationError(_("Pick a date after today."))
        if day > today + timedelta(days=MAX_DAYS):
            raise ValidationError(_("Pick a date within a year: an exception is reviewed."))
        return day

    def clean_reason(self) -> str:
        reason = (self.cleaned_data.get("reason") or "").strip()
        if not reason:
            raise ValidationError(_("Say why the risk is accepted."))
        return reason

    def clean_owner(self) -> str:
        owner = (self.cleaned_data.get("owner") or "").strip()
        if not owner:
            raise ValidationError(_("Name who answers for it."))
        return owner

    def _expiry(self, data: dict[str, Any]) -> None:
        """The date the exception ends: the one typed, else today plus the preset."""
        if data.get("expires_on") is None and "expires_on" not in self.errors:
            days = data.get("expires_in")
            if days:
                data["expires_on"] = timezone.localdate() + timedelta(days=days)
            else:
                self.add_error("expires_on", _("Pick how long it holds, or a date."))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self._expiry(data)
        if self.errors:
            return data
        rule = REGISTRY.get(data.get("rule_id", ""))
        label_key, _value = data.get("label") or ("", "")
        for error in matching.scope_errors(
            rule_scope=rule.scope if rule else None,
            has_host=data.get("host") is not None,
            label_key=label_key,
            container_pattern=data.get("container_pattern", ""),
            image_pattern=data.get("image_pattern", ""),
        ):
            self.add_error(None, error)
        self.check_target(data.get("host"), label_key, _value)
        return data

    def save(self, user: Any, can_approve: bool, request: Any = None) -> RiskException:
        data = self.cleaned_data
        label_key, label_value = data.get("label") or ("", "")
        return services.create(
            rule_id=data["rule_id"],
            host=data.get("host"),
            label_key=label_key,
            label_value=label_value,
            container_pattern=data.get("container_pattern", ""),
            image_pattern=data.get("image_pattern", ""),
            reason=data["reason"],
            owner=data["owner"],
            expires_at=start_of(data["expires_on"]),
            requested_by=user,
            can_approve=can_approve,
            request=request,
        )


class RuleOverrideForm(ScopedForm):
    rule_id = forms.ChoiceField(label=_("Rule"), choices=rule_choices)
    host = forms.ModelChoiceField(
        label=_("Host"),
        queryset=Host.objects.all(),
        required=False,
        to_field_name="name",
        error_messages={"invalid_choice": _("No host of that name.")},
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
        choices=lambda: [("", "—"), *vocabulary.severity_choices()],
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
        self.check_target(host, data.get("label_key", ""), data.get("label_value", ""))
        return data

    def save(self, user: Any, can_approve: bool, request: Any = None) -> RuleOverride:
        data = self.cleaned_data
        return overrides.create(
            rule_id=data["rule_id"],
            host=data.get("host"),
            label_key=data.get("label_key", ""),
            label_value=data.get("label_value", ""),
            action=data["action"],
            severity=data.get("severity"),
            reason=data["reason"].strip(),
            requested_by=user,
            can_approve=can_approve,
            request=request,
        )
