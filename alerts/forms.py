"""The subscription form: a scope with only the fields that scope needs, a threshold in
words, delivery; and the subscription its current input describes, for the "matches N
hosts" preview.

Which fields exist follows the scope asked for (posted, or prefilled by a link such as the
host page's "Alert me"). With htmx the server re-renders the fields when the scope changes;
without script, the first Subscribe answers with the fields the choice needs and what is
missing, so the form still works. For a team-scoped account, hosts and teams are only its
own: fan-out drops hosts outside them anyway (alerts.services), and saying so here beats a
subscription that never fires."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from access.models import Team
from access.scope import TEAM_LABEL
from access.scope import Scope as AccessScope
from alerts import audience
from alerts.channels import http, payloads
from alerts.models import THRESHOLD_WORDS, Subscription
from hosts.forms import parse_label
from hosts.models import Host
from hosts.targets import TargetRefused
from posture.lib.crypto import encrypt
from trends.scope import label_values

Scope = Subscription.Scope
# The fields each scope needs besides the common ones (threshold, delivery, quiet hours).
SCOPE_FIELDS: dict[str, tuple[str, ...]] = {
    Scope.ALL: (),
    Scope.HOST: ("host",),
    Scope.LABEL: ("team",),
    Scope.OWNER: ("owner_email",),
    Scope.FILTER: ("label_selector", "name_pattern"),
}
SCOPED_FIELDS = frozenset(name for names in SCOPE_FIELDS.values() for name in names)
# Changing one of these changes which hosts the preview counts.
WATCHED = "alert-watch"


def team_choices(access: AccessScope) -> list[tuple[str, str]]:
    """The teams an account may choose, as (label value, what a person reads): a scoped
    account's own; for the whole fleet, every team defined and every `team` label a host
    carries (a label nobody declared as a team still groups hosts)."""
    names = dict(Team.objects.values_list("label", "name"))
    if access.all_hosts:
        labels = sorted(set(names) | set(label_values(TEAM_LABEL)))
    else:
        labels = list(access.teams)
    return [(label, _team_text(label, names.get(label))) for label in labels]


def _team_text(label: str, name: str | None) -> str:
    return f"{name} ({TEAM_LABEL}={label})" if name and name != label else f"{TEAM_LABEL}={label}"


def prefill(query: Mapping[str, str]) -> dict[str, str]:
    """The form's starting values from a query string: a shortcut link (?host=pay-1,
    ?team=payments) or the form's own re-render. Only the form's fields are read, as text;
    a host or team the account may not choose is simply not among the select's options."""
    names = ("scope", *sorted(SCOPED_FIELDS), "min_severity", "delivery", "time_zone", "channel")
    values = {name: str(query[name]) for name in names if query.get(name)}
    if "scope" not in values:
        if "host" in values:
            values["scope"] = Scope.HOST
        elif "team" in values:
            values["scope"] = Scope.LABEL
    return values


class SubscriptionForm(forms.ModelForm):
    # By name: the value a link can carry, and the one a person reads in the HTML.
    host = forms.ModelChoiceField(
        label=_("Host"),
        queryset=Host.objects.none(),
        to_field_name="name",
        required=False,
        empty_label=_("Choose a host"),
        error_messages={"invalid_choice": _("Choose one of the hosts listed.")},
    )
    team = forms.ChoiceField(
        label=_("Team"),
        required=False,
        error_messages={"invalid_choice": _("%(value)s is not one of the teams you may choose.")},
    )
    # A secret (the path is the credential): never rendered back, not even on a refused form.
    url = forms.CharField(
        label=_("Webhook URL"),
        required=False,
        max_length=http.MAX_URL,
        # hx-preserve: a change of scope re-renders the fields; what was typed here stays in
        # the page instead of travelling in the re-render's GET (alerts.views.form_fields).
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "off", "hx-preserve": "true"}
        ),
        help_text=_(
            "Slack or Teams: the incoming webhook's URL; any other receiver: its https URL "
            "(messages are signed). Stored encrypted, never shown again. Not needed for email."
        ),
    )

    class Meta:
        model = Subscription
        fields = [
            "channel",
            "url",
            "scope",
            "host",
            "team",
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
            "channel": _("Send to"),
            "owner_email": _("Owner email"),
            "label_selector": _("Labels"),
            "name_pattern": _("Host name pattern"),
            "min_severity": _("Severity"),
            "delivery": _("Delivery"),
            "quiet_start": _("Quiet from"),
            "quiet_end": _("Quiet until"),
            "time_zone": _("Time zone"),
        }
        help_texts = {
            "owner_email": _("The hosts whose owner is this address; empty means yours."),
            "label_selector": _("key=value, comma-separated; every pair must match."),
            "name_pattern": _("e.g. pay-*"),
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
        self.scope = self._scope_asked()
        for name in SCOPED_FIELDS.difference(SCOPE_FIELDS[self.scope]):
            del self.fields[name]
        fields = self.fields
        fields["channel"].required = False
        fields["min_severity"].choices = [  # type: ignore[attr-defined]
            (int(severity), words) for severity, words in THRESHOLD_WORDS.items()
        ]
        # A new scope brings other fields: the server renders them (alerts.views.form_fields).
        fields["scope"].widget.attrs.update(
            {
                "hx-get": reverse_lazy("alert-form"),
                "hx-trigger": "change",
                # Set here, not inherited from the form (which swaps the whole panel).
                "hx-target": "closest .grid-2",
                "hx-swap": "innerHTML",
                "hx-include": "closest form",
                # Never the URL: a GET's query string ends up in access logs.
                "hx-params": "not csrfmiddlewaretoken,url",
            }
        )
        if not self.access.all_hosts:
            fields["scope"].choices = [  # type: ignore[attr-defined]
                (Scope.ALL, _("All hosts of my teams")) if value == Scope.ALL else (value, label)
                for value, label in fields["scope"].choices  # type: ignore[attr-defined]
            ]
        if self.instance.target_enc:
            # Editing: the stored URL is never shown; a blank field keeps it.
            fields["url"].help_text = _("Set — leave blank to keep. %(help)s") % {
                "help": fields["url"].help_text
            }
        if "host" in fields:
            fields["host"].queryset = self.access.filter(Host.objects.order_by("name"))  # type: ignore[attr-defined]
        if "team" in fields:
            fields["team"].choices = [("", _("Choose a team")), *team_choices(self.access)]  # type: ignore[attr-defined]
        if "label_selector" in fields and not self.access.all_hosts:
            teams = ", ".join(f"{TEAM_LABEL}={t}" for t in self.access.teams) or _("none")
            fields["label_selector"].help_text = _(
                "key=value, comma-separated; every pair must match. Your teams: %(teams)s."
            ) % {"teams": teams}
        for name in SCOPED_FIELDS.intersection(fields):
            fields[name].widget.attrs["class"] = WATCHED

    def _scope_asked(self) -> str:
        source = self.data if self.is_bound else self.initial
        value = source.get("scope") or self.instance.scope
        return value if value in SCOPE_FIELDS else Scope.ALL

    @property
    def preview_after(self) -> str:
        """The field the preview follows: the last one that says which hosts."""
        return (("scope", *SCOPE_FIELDS[self.scope]))[-1]

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

    def clean_channel(self) -> str:
        # Absent from a post (an older page, a script): mail, as before channels existed.
        return str(self.cleaned_data.get("channel") or Subscription.Channel.EMAIL)

    def clean_url(self) -> str:
        url = str(self.cleaned_data.get("url") or "").strip()
        if url and self.data.get("channel", Subscription.Channel.EMAIL) != "email":
            try:
                http.check_url(url)
            except TargetRefused as exc:
                raise ValidationError(exc.sentence) from None
        return url

    def clean_time_zone(self) -> str:
        name = self.cleaned_data.get("time_zone", "").strip() or "UTC"
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(_("Unknown time zone, e.g. Europe/Paris.")) from None
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        channel = data.get("channel") or Subscription.Channel.EMAIL
        if channel != Subscription.Channel.EMAIL:
            if not data.get("url") and not self.has_error("url") and not self.instance.target_enc:
                self.add_error("url", _("Give the webhook URL."))
        elif self.address == "":
            # Saved, it would send nothing, ever, while the page said "Subscription saved."
            raise ValidationError(
                _("Your account has no email address: alerts cannot be sent to you.")
            )
        scope = data.get("scope")
        if scope == Scope.HOST and not data.get("host") and not self.has_error("host"):
            self.add_error("host", _("Choose the host."))
        if scope == Scope.LABEL and not self.has_error("team"):
            if data.get("team"):
                data["label_selector"] = f"{TEAM_LABEL}={data['team']}"
            else:
                self.add_error("team", _("Choose the team."))
        if scope == Scope.FILTER and not (data.get("label_selector") or data.get("name_pattern")):
            self.add_error("name_pattern", _("Give labels, a host name pattern, or both."))
        if (data.get("quiet_start") is None) != (data.get("quiet_end") is None):
            self.add_error("quiet_end", _("Give both ends of the quiet hours, or neither."))
        return data

    def start_over(self) -> SubscriptionForm:
        """After a save: the next render replaces the URL field instead of keeping what the
        browser holds in it (hx-preserve keeps it only while the same form is being filled)."""
        self.fields["url"].widget.attrs.pop("hx-preserve", None)
        return self

    def save(self, commit: bool = True) -> Subscription:
        """Seals the URL (and a new signing key for a webhook) with the public key: this
        process can store them, only workers open them. `new_secret` is the key in clear,
        for the one page that shows it."""
        sub: Subscription = super().save(commit=False)
        url = self.cleaned_data.get("url") or ""
        self.new_secret = ""
        if sub.is_email:
            sub.target_enc = sub.target_host = sub.signing_secret_enc = ""
        elif url:
            sub.target_enc, sub.target_host = encrypt(url), http.host_of(url)
        if sub.channel == Subscription.Channel.WEBHOOK and not sub.signing_secret_enc:
            self.new_secret = payloads.new_secret()
            sub.signing_secret_enc = encrypt(self.new_secret)
        elif sub.channel != Subscription.Channel.WEBHOOK:
            sub.signing_secret_enc = ""
        if commit:
            sub.save()
        return sub

    def draft(self, user: Any) -> Subscription | None:
        """The subscription the input describes so far, never saved; None while its scope
        still lacks the choice that says which hosts."""
        values = self.data if self.is_bound else self.initial
        sub = Subscription(user=user, scope=self.scope)
        if self.scope == Scope.HOST:
            name = str(values.get("host") or "")
            host = self.fields["host"].queryset.filter(name=name).first() if name else None  # type: ignore[attr-defined]
            if host is None:
                return None
            sub.host = host
        elif self.scope == Scope.LABEL:
            team = str(values.get("team") or "")
            if not team or team not in dict(self.fields["team"].choices):  # type: ignore[attr-defined]
                return None
            sub.label_selector = f"{TEAM_LABEL}={team}"
        elif self.scope == Scope.OWNER:
            sub.owner_email = str(values.get("owner_email") or "").strip() or (self.address or "")
            if not sub.owner_email:
                return None
        elif self.scope == Scope.FILTER:
            parts = [p for p in str(values.get("label_selector") or "").split(",") if p.strip()]
            pairs = [parse_label(p) for p in parts]
            sub.name_pattern = str(values.get("name_pattern") or "").strip()
            if None in pairs or not (pairs or sub.name_pattern):
                return None
            sub.label_selector = ",".join(f"{p[0]}={p[1]}" for p in pairs if p)
        return sub

    def preview(self, user: Any) -> audience.Preview:
        """Which of the account's hosts the input covers today."""
        sub = self.draft(user)
        hosts = self.access.filter(Host.objects.all())
        return audience.Preview(
            self.scope, None if sub is None else audience.hosts_matching(sub, hosts)
        )
