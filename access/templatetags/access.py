"""Offer only the buttons the account may use: `{% load access %}`, then

    {% if access|can:"host.edit" %}               the role grants the permission
    {% if access|on:host|can:"host.scan" %}        ... and the host is in the account's scope

A hidden button is a courtesy, not the check: every view checks again (access.policy,
access.objects), so a template that forgets a filter shows a button that answers 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template

from access.roles import Perm

register = template.Library()


@dataclass(frozen=True)
class OnHost:
    """An account's access narrowed to one host: `can` then also asks the host's labels."""

    access: Any
    labels: dict[str, Any] | None

    def can(self, perm: Perm | str) -> bool:
        checker = getattr(self.access, "can_on", None)
        return bool(checker(perm, self.labels)) if callable(checker) else False


@register.filter
def can(access: Any, perm: str) -> bool:
    """False for anything that is not an Access (an unknown name in a template included by
    a page without one): fail closed, never a template error that hides the whole page."""
    try:
        wanted = Perm(perm)
    except ValueError:
        return False
    checker = getattr(access, "can", None)
    return bool(checker(wanted)) if callable(checker) else False


@register.filter
def on(access: Any, host: Any) -> OnHost:
    """The access narrowed to a host (a Host, or anything with `labels`)."""
    labels = getattr(host, "labels", None)
    return OnHost(access, labels if isinstance(labels, dict) else None)
