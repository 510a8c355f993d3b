"""Bodies and headers per channel kind: Slack (incoming webhook: text + Block Kit), Microsoft
Teams (Workflows webhook: a message carrying an Adaptive Card) and a generic JSON webhook
signed with HMAC-SHA256 over "<timestamp>.<body>" (docs/WEBHOOKS.md shows how a receiver
verifies it). Daemon-reported names reach Slack's mrkdwn escaped, so a container called
"<!channel>" cannot ping a channel."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from django.utils.translation import gettext as _

from alerts.channels.message import Item, Message

SIGNATURE_HEADER = "X-Posture-Signature"
TIMESTAMP_HEADER = "X-Posture-Timestamp"
DELIVERY_HEADER = "X-Posture-Delivery"  # the same on every retry of one message: dedupe by it
SLACK_BLOCKS = 45  # Slack refuses a message of more than 50 blocks
SHOWN = 20  # a digest's items shown in a chat message; the link leads to the rest


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_item(i: Item) -> dict[str, Any]:
    fields = [
        f"*{_('Host')}*\n<{i.url}|{_mrkdwn(i.host)}>",
        f"*{_('Severity')}*\n{_mrkdwn(i.severity)}",
    ]
    if i.rule_id:
        fields.append(f"*{_('Rule')}*\n{_mrkdwn(i.rule_id)} {_mrkdwn(i.rule_title)}".strip())
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": _mrkdwn(i.headline)},
        "fields": [{"type": "mrkdwn", "text": f} for f in fields],
    }


def slack(message: Message) -> bytes:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}}
    ]
    shown = message.items[:SHOWN]
    for i in shown:
        blocks.append(_slack_item(i))
    if len(message.items) > len(shown):
        more = _("and %(n)s more") % {"n": len(message.items) - len(shown)}
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    label = _("Open in Posture")
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": label},
                    "url": message.link,
                }
            ],
        }
    )
    return _dump({"text": message.title, "blocks": blocks[:SLACK_BLOCKS]})


def _teams_item(i: Item) -> dict[str, Any]:
    facts = [
        {"title": _("Host"), "value": i.host},
        {"title": _("Severity"), "value": i.severity},
    ]
    if i.rule_id:
        facts.append({"title": _("Rule"), "value": f"{i.rule_id} {i.rule_title}".strip()})
    return {
        "type": "Container",
        "items": [
            {"type": "TextBlock", "text": i.headline, "wrap": True, "weight": "Bolder"},
            {"type": "FactSet", "facts": facts},
        ],
        "selectAction": {"type": "Action.OpenUrl", "url": i.url},
    }


def teams(message: Message) -> bytes:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": message.title,
            "wrap": True,
            "size": "Medium",
            "weight": "Bolder",
        }
    ]
    body += [_teams_item(i) for i in message.items[:SHOWN]]
    if len(message.items) > SHOWN:
        more = _("and %(n)s more") % {"n": len(message.items) - SHOWN}
        body.append({"type": "TextBlock", "text": more, "isSubtle": True})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": _("Open in Posture"), "url": message.link}],
    }
    attachment = {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None,
        "content": card,
    }
    return _dump({"type": "message", "attachments": [attachment]})


def webhook_body(message: Message, delivery: str) -> bytes:
    items = [
        {
            "event": i.event,
            "kind": i.kind,
            "headline": i.headline,
            "host": i.host,
            "url": i.url,
            "severity": i.severity_level,
            "severity_label": i.severity,
            "rule_id": i.rule_id,
            "rule_title": i.rule_title,
            "about": i.about,
            "at": i.at.isoformat(),
        }
        for i in message.items
    ]
    return _dump(
        {
            "type": "posture.alert",
            "version": 1,
            "delivery": delivery,
            "test": message.test,
            "digest": message.digest,
            "title": message.title,
            "link": message.link,
            "items": items,
        }
    )


def build(
    channel: str,
    message: Message,
    *,
    secret: str = "",
    delivery: str = "",
    now: float | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers for a channel kind (Subscription.Channel)."""
    if channel == "slack":
        return slack(message), {}
    if channel == "teams":
        return teams(message), {}
    body = webhook_body(message, delivery)
    timestamp = int(now if now is not None else time.time())
    headers = {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        DELIVERY_HEADER: delivery,
    }
    return body, headers
