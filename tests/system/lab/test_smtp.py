"""The lab SMTP server receives what Django's SMTP backend really sends."""

from __future__ import annotations

from django.core.mail import EmailMultiAlternatives

from lab.smtp import LabSmtp


def test_message_arrives_over_smtp_with_both_parts(lab_smtp: LabSmtp) -> None:
    message = EmailMultiAlternatives("Subject é", "plain text", "a@localhost", ["b@localhost"])
    message.attach_alternative("<p>html</p>", "text/html")
    message.send()
    [arrived] = lab_smtp.wait_for(1)
    assert arrived["Subject"] == "Subject é"
    assert arrived.get_body(("plain",)).get_content().strip() == "plain text"
    assert arrived.get_body(("html",)).get_content().strip() == "<p>html</p>"
