"""A test of the mails Posture sends, asked for on the account page: a real mail through
the configured backend to the account's own address, marked as a test in its subject. The
report here ("Send a test report"); the alert in alerts.test_message.

What every test mail shares lives here, in the lower of the two apps: at most one of each
kind a minute per account (a button pressed in a loop must not make the mail server a spam
relay), an audit event for every attempt, delivered or not, and what the person is told.
The views sit beside what they send rather than in the account page's app: accounts is
imported by both apps (a recipient's language), so it may not import them back.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from access.policy import allow
from access.roles import Perm
from access.services import access_for
from accounts.services import user_language
from audit.models import AuditEvent
from audit.services import record
from trends.emails import report_message
from trends.models import ReportSubscription
from trends.reports import build_report

log = logging.getLogger(__name__)

ACTION = "account.test_mail_sent"
EVERY = timedelta(minutes=1)


def too_soon(user: User, kind: str, now: datetime | None = None) -> bool:
    """A test mail of this kind went to this account less than a minute ago. Read from the
    audit trail: the one record every web process shares, whatever the cache."""
    since = (now or timezone.now()) - EVERY
    return AuditEvent.objects.filter(
        actor_id=user.pk, action=ACTION, details__kind=kind, at__gt=since
    ).exists()


def as_test(message: EmailMultiAlternatives, user: User) -> EmailMultiAlternatives:
    """The subject says it is a test, in the recipient's language, so that nobody acts on
    the figures of a mail they asked for themselves."""
    with translation.override(user_language(user)):
        message.subject = _("[Test] %(subject)s") % {"subject": message.subject}
    return message


def report_test_message(user: User) -> EmailMultiAlternatives:
    """Last week's report of the hosts the account sees, as a weekly subscription to the
    whole fleet would bring it (nothing is saved: the subscription is never stored)."""
    subscription = ReportSubscription(user=user, period=ReportSubscription.Period.WEEK)
    report = build_report(subscription.period, "", access=access_for(user).scope)
    return as_test(report_message(subscription, report), user)


def deliver(
    request: HttpRequest, kind: str, build: Callable[[User], EmailMultiAlternatives], sent: str
) -> HttpResponse:
    """Send `build(user)` to the signed-in account unless it has no address or just had
    one; `sent` is what the person reads after (with %(address)s). Back to the account page,
    where the outcome shows."""
    user: User = request.user  # type: ignore[assignment]  # the policy lets only accounts in
    if not user.email:
        messages.error(request, _("Your account has no email address: add one first."))
    elif too_soon(user, kind):
        messages.error(
            request,
            _("A test mail of this kind was sent less than a minute ago: wait a minute."),
        )
    else:
        error = ""
        try:
            build(user).send()
        except (smtplib.SMTPException, OSError) as exc:  # refused, unreachable, timed out
            log.warning("test %s mail to user %s failed: %s", kind, user.pk, exc)
            error = type(exc).__name__
        details = {"kind": kind, "to": user.email, "delivered": not error, "error": error}
        record(ACTION, request=request, target=user, details=details)
        if error:
            messages.error(
                request,
                _(
                    "The mail server did not take the test mail (%(error)s): alerts and "
                    "reports cannot be delivered either. Ask an administrator to check "
                    "the mail settings."
                )
                % {"error": error},
            )
        else:
            messages.success(request, sent % {"address": user.email})
    return redirect("account")


@allow(Perm.VIEW)
@require_POST
def send_test_report(request: HttpRequest) -> HttpResponse:
    sent = _("A test report was sent to %(address)s.")
    return deliver(request, "report", report_test_message, sent)
