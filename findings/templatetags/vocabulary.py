"""`{% load vocabulary %}`: the rule engine's words in the page's language (findings.vocabulary).

`{{ text|reason }}` a verdict's reason or guidance; `{{ list|reasons|join:"; " }}` each of
them; `{{ 3|severity_label }}`, `{{ "container"|kind_label }}`, `{{ "no_ssh"|cause_label }}`.
"""

from __future__ import annotations

from collections.abc import Iterable

from django import template

from findings import vocabulary
from rules import Rule

register = template.Library()


@register.filter
def reason(text: str) -> str:
    return vocabulary.reason(str(text)) if text else ""


@register.filter
def reasons(texts: Iterable[str]) -> list[str]:
    return [vocabulary.reason(str(t)) for t in texts or ()]


@register.filter
def severity_label(severity: int) -> str:
    return vocabulary.severity_label(severity)


@register.filter
def kind_label(kind: str) -> str:
    return vocabulary.kind_label(str(kind))


@register.filter
def cause_label(cause: str) -> str:
    return vocabulary.cause_label(str(cause))


@register.filter
def rule_title(rule: Rule | None) -> str:
    return vocabulary.rule_title(rule)


@register.filter
def state_label(state: str) -> str:
    return vocabulary.state_label(str(state)) if state else ""


@register.filter
def catalogue_text(text: str) -> str:
    return vocabulary.catalogue_text(str(text)) if text else ""
