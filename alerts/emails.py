"""One function per email kind; each renders three templates (subject, text, HTML) in the
recipient's language. Everything a daemon reported (container names, evidence) reaches
the HTML part through Django's autoescaping, never marked safe."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import make_msgid
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import translation

from access.roles import Perm
from access.services import Access, access_for
from alerts.models import Event, Notification, Regression
from findings import vocabulary
from hosts.models import Host
from rules import REGISTRY
from scans.transports.errors import ErrorClass

Kind = Regression.Kind
# Email kind per regression kind when it opens; every closing uses "recovery".
OPENED_KIND = {
    Kind.FINDING: "finding",
    Kind.DANGEROUS: "finding",
    Kind.SCORE_DROP: "score_drop",
    Kind.UNREACHABLE: "unreachable",
    Kind.VULNERABILITY: "vulnerability",
}
ERRORS = {e.value for e in ErrorClass}
KINDS = ("finding", "score_drop", "unreachable", "vulnerability", "recovery", "digest")


def kind_for(event: Event) -> str:
    if event.phase == Event.Phase.RECOVERED:
        return "recovery"
    return OPENED_KIND[Kind(event.regression.kind)]


def host_url(host: Host) -> str:
    return settings.POSTURE_BASE_URL + reverse("host-detail", args=[host.name])


def vulnerability_url(vuln: str) -> str:
    """The vulnerability's page; an id the route cannot carry (a "/" from a hostile data file)
    gets the fleet-wide list instead of a broken link or a failed mail."""
    try:
        path = reverse("vulnerability", args=[vuln])
    except NoReverseMatch:
        path = reverse("vulnerabilities")
    return settings.POSTURE_BASE_URL + path


def _local(en: str, fr: str) -> str:
    return fr if fr and (translation.get_language() or "en").startswith("fr") else en


def event_context(event: Event, access: Access | None = None) -> dict[str, Any]:
    """What any mail about this event shows to a recipient with `access`; call inside
    translation.override. A daemon's error body can reveal other services on the host: only
    recipients who may edit the host get it, as on the host page."""
    regression = event.regression
    finding = regression.finding
    rule = REGISTRY.get(finding.rule_id) if finding else None
    error = regression.details.get("error_class")
    return {
        "event": event,
        "regression": regression,
        "host": regression.host,
        "url": host_url(regression.host),
        "severity": vocabulary.severity_label(regression.severity),
        "finding": finding,
        "evidence": (finding.evidence if finding else []) or [],
        "rule_title": _local(rule.title, rule.title_fr) if rule else "",
        "remediation": (_local(rule.remediation.en, rule.remediation.fr) if rule else ""),
        "dangerous": regression.kind == Kind.DANGEROUS,
        "details": regression.details,
        "error_detail": (
            regression.details.get("error_detail", "")
            if access is not None and access.can_on(Perm.HOST_EDIT, regression.host.labels)
            else ""
        ),
        "error_label": ErrorClass(error).label if error in ERRORS else "",
        "vuln_url": (
            vulnerability_url(str(regression.details.get("vuln", "")))
            if regression.kind == Kind.VULNERABILITY
            else ""
        ),
    }


def message_id(n: Notification) -> str:
    """The row's own Message-ID, the same at every send: a message re-sent by the sweep after
    a worker died (alerts.services.CLAIM_LEASE) carries the id of any copy SMTP had already
    accepted, so mail systems and readers can drop the second one. The creation time keeps
    ids apart across databases whose primary keys start again (a restore, a new install)."""
    domain = urlsplit(settings.POSTURE_BASE_URL).hostname or "localhost"
    if n.pk is None:  # a test message (alerts.test_message): no row, sent once
        return make_msgid("alert-test", domain=domain)
    return f"<alert-{n.pk}.{n.created_at:%Y%m%d%H%M%S}@{domain}>"


def _message(n: Notification, context: dict[str, Any], language: str) -> EmailMultiAlternatives:
    with translation.override(language):
        base = f"alerts/emails/{n.kind}"  # the digest's kind is "digest"
        subject: str = render_to_string(f"{base}-subject.txt", context)
        text = render_to_string(f"{base}.txt", context)
        html = render_to_string(f"{base}.html", context)
    # A container name may hold a newline: one header line, bounded, whatever it says.
    subject = " ".join(subject.split())[:200]
    message = EmailMultiAlternatives(
        subject, text, settings.DEFAULT_FROM_EMAIL, [n.to], headers={"Message-ID": message_id(n)}
    )
    message.attach_alternative(html, "text/html")
    return message


# One event, one mail: the kinds whose template is rendered from the event alone.
SINGLE = frozenset({"finding", "score_drop", "unreachable", "vulnerability", "recovery"})


def single(n: Notification, language: str) -> EmailMultiAlternatives:
    """The mail of one event; the notification's kind names its templates."""
    assert n.event is not None and n.kind in SINGLE
    access = access_for(n.user)
    with translation.override(language):
        context = event_context(n.event, access)
    return _message(n, context, language)


def digest(n: Notification, items: list[Notification], language: str) -> EmailMultiAlternatives:
    access = access_for(n.user)
    with translation.override(language):
        entries = [
            {**event_context(i.event, access), "kind": i.kind} for i in items if i.event is not None
        ]
    context = {"entries": entries, "fleet_url": settings.POSTURE_BASE_URL + reverse("fleet")}
    return _message(n, context, language)
