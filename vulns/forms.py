"""The triage form: what a person decides about one vulnerability (a VEX state), for which
scope (an image repository, a package, a host label or the whole fleet), why, who answers
for it, and until when."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from access.scope import Scope as HostScope
from audit.services import record as audit
from hosts.forms import parse_label
from vulns import signals
from vulns.models import VulnDecision
from vulns.places import hosts_running
from vulns.triage import may_decide

# A decision is taken again: two years at most, "accepted" or not.
MAX_DAYS = 731


def start_of(day: date) -> datetime:
    """A decision dated D stops applying at 00:00 on D, in the server's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


class VulnDecisionForm(forms.Form):
    state = forms.ChoiceField(label=_("Decision"), choices=VulnDecision.State.choices)
    justification = forms.ChoiceField(
        label=_("Justification"),
        choices=VulnDecision.Justification.choices,
        required=False,
        help_text=_("Why it is not affected (required for “not affected”)."),
    )
    scope = forms.ChoiceField(label=_("Scope"), choices=VulnDecision.Scope.choices)
    scope_value = forms.CharField(
        label=_("Scope value"),
        required=False,
        max_length=255,
        help_text=_(
            "The image repository (registry.example/app), the package (openssl) or the host "
            "label (team=pay); empty for the whole fleet."
        ),
    )
    reason = forms.CharField(
        label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )
    owner = forms.CharField(
        label=_("Owner"),
        max_length=150,
        help_text=_("Who answers for it: a name, a team or an email address."),
    )
    expires_on = forms.DateField(
        label=_("Expires on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Required for an accepted risk: it is reviewed then."),
    )

    def __init__(self, *args: Any, scope: HostScope | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The hosts the deciding account answers for: all of them unless it has teams.
        self.host_scope = scope or HostScope.everything()

    def clean_reason(self) -> str:
        reason = (self.cleaned_data.get("reason") or "").strip()
        if not reason:
            raise ValidationError(_("Say why."))
        return reason

    def clean_owner(self) -> str:
        owner = (self.cleaned_data.get("owner") or "").strip()
        if not owner:
            raise ValidationError(_("Name who answers for it."))
        return owner

    def clean_scope_value(self) -> str:
        return (self.cleaned_data.get("scope_value") or "").strip()

    def clean_expires_on(self) -> date | None:
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        today = timezone.localdate()
        if day <= today:
            raise ValidationError(_("Pick a date after today."))
        if day > today + timedelta(days=MAX_DAYS):
            raise ValidationError(_("Pick a date within two years: a decision is reviewed."))
        return day

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        state, scope = data.get("state"), data.get("scope")
        value = data.get("scope_value", "")
        if state == VulnDecision.State.NOT_AFFECTED and not data.get("justification"):
            self.add_error("justification", _("Say why it is not affected."))
        if state != VulnDecision.State.NOT_AFFECTED and data.get("justification"):
            data["justification"] = ""  # VEX justifies "not affected" only
        if state == VulnDecision.State.ACCEPTED and "expires_on" in data and not data["expires_on"]:
            self.add_error("expires_on", _("An accepted risk needs an expiry date."))
        if scope == VulnDecision.Scope.FLEET:
            data["scope_value"] = ""
        elif scope and "scope_value" in data and not value:
            self.add_error("scope_value", _("Name the repository, package or label."))
        elif scope == VulnDecision.Scope.LABEL and value:
            pair = parse_label(value)
            if pair is None:
                self.add_error("scope_value", _("Write the label as key=value, e.g. team=pay."))
            else:
                data["scope_value"] = f"{pair[0]}={pair[1]}"
        elif scope == VulnDecision.Scope.REPOSITORY and value and ("@" in value or " " in value):
            self.add_error("scope_value", _("A repository without tag or digest, e.g. nginx."))
        if (
            scope
            and not self.errors
            and not may_decide(self.host_scope, scope, data.get("scope_value", ""))
        ):
            teams = ", ".join(f"team={t}" for t in self.host_scope.teams) or "—"
            self.add_error(
                "scope",
                _(
                    "Your account decides for its teams' hosts only: choose the host label "
                    "scope with your team's label (%(teams)s)."
                )
                % {"teams": teams},
            )
        return data

    def save(self, vuln: str, user: Any) -> VulnDecision:
        data = self.cleaned_data
        day = data.get("expires_on")
        return VulnDecision.objects.create(
            vuln=vuln,
            state=data["state"],
            justification=data.get("justification") or "",
            scope=data["scope"],
            scope_value=data.get("scope_value", ""),
            reason=data["reason"],
            owner=data["owner"],
            expires_at=start_of(day) if day else None,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )


def _audit_details(decision: VulnDecision) -> dict[str, Any]:
    return {
        "vuln": decision.vuln,
        "state": decision.state,
        "justification": decision.justification,
        "scope": decision.scope,
        "scope_value": decision.scope_value,
        "reason": decision.reason,
        "owner": decision.owner,
        "expires_at": decision.expires_at,
    }


def record(form: VulnDecisionForm, vuln: str, user: Any, request: Any = None) -> VulnDecision:
    """Save the decision and ask for the verdicts of the hosts running `vuln` to be redone
    (vulns.signals.triage_changed, connected by scans), in one transaction with its audit
    event: a decision is never in force without the trail saying who took it."""
    with transaction.atomic():
        decision = form.save(vuln, user)
        audit("triage.decided", request=request, target=decision, details=_audit_details(decision))
        signals.notify(signals.triage_changed, hosts_running(vuln), sender=VulnDecision)
    return decision


def revoke(decision: VulnDecision, request: Any = None) -> bool:
    """Revoke once (compare-and-set), then ask for the same rescans as a new decision."""
    with transaction.atomic():
        done = VulnDecision.objects.filter(pk=decision.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if done:
            audit(
                "triage.revoked", request=request, target=decision, details=_audit_details(decision)
            )
            hosts = hosts_running(decision.vuln)
            signals.notify(signals.triage_changed, hosts, sender=VulnDecision)
    return bool(done)
