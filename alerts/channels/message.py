"""What a channel says about events: the mail's headline (the same template, so a Slack
message and a mail about one change read alike), the host, its link, rule and severity, in
the subscriber's language. Plain data: the payload builders only arrange it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from access.services import Access
from alerts import emails
from alerts.models import Event
from alerts.recent import about_event


@dataclass(frozen=True)
class Item:
    """One change: a regression opening, or its recovery."""

    kind: str  # the notification kind: finding, score_drop, unreachable, vulnerability, recovery
    event: str  # regression, recovery or unreachable: what a receiver's code branches on
    headline: str
    host: str
    url: str
    severity: str  # in words, in the subscriber's language
    severity_level: int  # 0 info … 4 critical
    about: str
    rule_id: str = ""
    rule_title: str = ""
    at: datetime = field(default_factory=timezone.now)


@dataclass(frozen=True)
class Message:
    title: str
    items: list[Item]
    digest: bool = False
    test: bool = False
    link: str = ""  # the digest's fleet page, or the single item's host page


def item(event: Event, kind: str, access: Access | None) -> Item:
    """Call inside translation.override."""
    context = emails.event_context(event, access)
    headline = " ".join(render_to_string("alerts/emails/_headline.txt", context).split())
    regression = event.regression
    finding = regression.finding
    phase = "recovery" if event.phase == Event.Phase.RECOVERED else "regression"
    if phase == "regression" and regression.kind == "unreachable":
        phase = "unreachable"
    return Item(
        kind=kind,
        event=phase,
        headline=headline,
        host=regression.host.name,
        url=context["url"],
        severity=str(context["severity"]),
        severity_level=int(regression.severity),
        about=about_event(event),
        rule_id=finding.rule_id if finding else str(regression.details.get("rule_id", "")),
        rule_title=str(context["rule_title"]),
        at=event.created_at,
    )


def single(event: Event, kind: str, access: Access | None, language: str) -> Message:
    with translation.override(language):
        one = item(event, kind, access)
    return Message(title=one.headline, items=[one], link=one.url)


def digest(pairs: list[tuple[Event, str]], access: Access | None, language: str) -> Message:
    with translation.override(language):
        items = [item(event, kind, access) for event, kind in pairs]
        title = ngettext(
            "Posture digest: %(n)s change", "Posture digest: %(n)s changes", len(items)
        ) % {"n": len(items)}
    fleet = settings.POSTURE_BASE_URL + reverse("fleet")
    return Message(title=title, items=items, digest=True, link=fleet)


def as_test(message: Message, language: str) -> Message:
    with translation.override(language):
        title = _("[Test] %(subject)s") % {"subject": message.title}
    return Message(title, message.items, message.digest, True, message.link)
