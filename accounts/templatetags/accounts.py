from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template
from django.template.context import RequestContext

from accounts.forms import language_choices
from accounts.services import SESSION_KEY

register = template.Library()


@register.inclusion_tag("accounts/language_switch.html", takes_context=True)
def language_switch(context: RequestContext) -> dict[str, Any]:
    request = context.get("request")
    if request is None:  # rendered outside a request (render_to_string): no form to show
        return {"choices": []}
    return {
        "choices": language_choices(),
        "chosen": request.session.get(SESSION_KEY, ""),
        "next": request.get_full_path(),
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def minutes(value: timedelta | None) -> int:
    """A wait in whole minutes, rounded up: "try again in 0 minutes" would be a lie."""
    if value is None:
        return 0
    return -(-int(value.total_seconds()) // 60)
