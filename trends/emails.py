"""The scheduled report email: subject, text and HTML templates, charts as inline PNGs.

Mail clients (Gmail, Outlook) render neither SVG nor scripts, so the charts are PNG images
attached as multipart/related parts and referenced from the HTML as cid: URLs.
"""

from __future__ import annotations

from email.mime.image import MIMEImage

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from accounts.services import user_language
from trends import png
from trends.filters import ReportFilters
from trends.models import ReportSubscription
from trends.reports import Report

GRADE_COLOURS = ((31, 138, 76), (92, 154, 27), (201, 154, 6), (223, 108, 16), (198, 40, 40))


def report_images(report: Report) -> dict[str, bytes]:
    return {
        "score-chart": png.line_png([p.mean for p in report.series]),
        "grade-chart": png.bar_png([n for _grade, n in report.grades], GRADE_COLOURS),
    }


def report_message(subscription: ReportSubscription, report: Report) -> EmailMultiAlternatives:
    base = settings.POSTURE_BASE_URL
    # The very period mailed, not "the last one": the link still shows it next month.
    query = ReportFilters(
        period=report.period.kind, team=report.team, start=report.period.key
    ).query_string()
    context = {
        "report": report,
        "subscription": subscription,
        "base_url": base,
        "report_url": f"{base}{reverse('report')}{query}",
        "trends_url": f"{base}{reverse('trends')}",
    }
    # Written in the subscriber's language: a worker has no browser to ask.
    with translation.override(user_language(subscription.user)):
        subject = " ".join(render_to_string("trends/email/report_subject.txt", context).split())
        text = render_to_string("trends/email/report.txt", context)
        html = render_to_string("trends/email/report.html", context)
    message = EmailMultiAlternatives(
        subject, text, settings.DEFAULT_FROM_EMAIL, [subscription.user.email]
    )
    message.attach_alternative(html, "text/html")
    # multipart/related around the alternatives: the images belong to the HTML part.
    message.mixed_subtype = "related"  # type: ignore[attr-defined]  # missing from the stubs
    for cid, data in report_images(report).items():
        image = MIMEImage(data, "png")
        image.add_header("Content-ID", f"<{cid}>")
        image.add_header("Content-Disposition", "inline", filename=f"{cid}.png")
        message.attach(image)
    return message
