"""A test alert, asked for on the account page ("Send a test alert message"): the mail a new
finding would bring, rendered by the same templates and sender as a real one (alerts.emails)
and sent now to the account's own address, marked as a test in its subject. Throttling,
the audit event and what the person is told are shared with the test report
(trends.test_message).

Nothing is stored: the regression and its event are built in memory. They describe the worst
finding open on a host the account sees, so the mail shows that person's fleet; with none
open, an example finding of a catalogue rule stands in, on an example host.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from access.policy import allow
from access.roles import Perm
from access.services import access_for
from alerts import emails
from alerts.models import Event, Notification, Regression
from alerts.services import user_language
from findings.models import Finding
from hosts.models import Host
from rules import REGISTRY
from trends.test_message import as_test, deliver

# The stand-in when nothing fails in the account's scope: a rule every fleet knows.
EXAMPLE_RULE = "CTR-PRIVILEGED"


def worst_open_finding(user: User) -> Finding | None:
    """The finding a real alert would most likely be about: open, not accepted, highest
    severity first, on a host in the account's scope."""
    scope = access_for(user).scope
    open_findings = Finding.objects.open().filter(accepted=False).select_related("host")
    return scope.filter(open_findings, prefix="host__").order_by("-severity", "host__name").first()


def example_finding() -> Finding:
    rule = REGISTRY[EXAMPLE_RULE]
    return Finding(
        host=Host(name="example-host", labels={}),
        rule_id=rule.id,
        severity=int(rule.severity),
        subject_kind="container",
        subject_name="example-container",
        evidence=[{"field": "HostConfig.Privileged", "value": "true"}],
    )


def example_event(user: User) -> Event:
    """The event of a test message, mail or channel (alerts.deliveries.send_test)."""
    finding = worst_open_finding(user) or example_finding()
    regression = Regression(
        host=finding.host,
        kind=Regression.Kind.FINDING,
        severity=finding.severity,
        finding=finding,
        details={},
    )
    return Event(regression=regression, phase=Event.Phase.OPENED)


def alert_test_message(user: User) -> EmailMultiAlternatives:
    event = example_event(user)
    notification = Notification(user=user, event=event, kind="finding", to=user.email)
    return as_test(emails.single(notification, user_language(user)), user)


@allow(Perm.VIEW)
@require_POST
def send_test_alert(request: HttpRequest) -> HttpResponse:
    sent = _("A test alert was sent to %(address)s.")
    return deliver(request, "alert", alert_test_message, sent)
