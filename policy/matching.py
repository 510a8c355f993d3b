"""Which subjects a risk exception covers, and which scopes are refused as too broad.

Pure functions over plain values, no database: the scan (policy.exceptions.apply), the
form and the model's clean() all use them, and tests call them directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

from django.utils.translation import gettext as _

from rules.base import Scope

PATTERN_MAX = 200
# Printable, no whitespace: container names and image references never contain any.
_PATTERN = re.compile(r"^[!-~]+$")
_WILDCARDS = frozenset("*?")


def label_matches(labels: Mapping[str, object] | None, key: str, value: str) -> bool:
    """No selector matches every host; a selector key=value needs exactly that label."""
    if not key:
        return True
    labels = labels if isinstance(labels, dict) else {}
    return key in labels and str(labels[key]) == value


def too_broad(pattern: str) -> bool:
    """A pattern of wildcards only ("*", "**", "?*") matches every name or image."""
    return bool(pattern) and set(pattern) <= _WILDCARDS


def pattern_error(pattern: str) -> str | None:
    """Why a container or image pattern is refused, or None."""
    if not pattern:
        return _("The pattern is empty.")
    if len(pattern) > PATTERN_MAX:
        return _("The pattern is too long (200 characters at most).")
    if not _PATTERN.match(pattern):
        return _("A pattern has no spaces or control characters.")
    return None


def subject_matches(
    *,
    kind: Scope,
    name: str,
    image_refs: Iterable[str],
    container_pattern: str,
    image_pattern: str,
) -> bool:
    """Every pattern given must match (fnmatch, case-sensitive on every platform).

    A container pattern is matched on the container's name without its leading "/"; an image
    pattern on the image references: the one a container was created from (Config.Image), an
    image's own tags. The daemon has neither, so an exception with a pattern never covers it.
    """
    if container_pattern and (
        kind is not Scope.CONTAINER or not fnmatchcase(name.lstrip("/"), container_pattern)
    ):
        return False
    if not image_pattern:
        return True
    return kind is not Scope.DAEMON and any(
        fnmatchcase(ref, image_pattern) for ref in image_refs if ref
    )


def scope_errors(
    *,
    rule_scope: Scope | None,
    has_host: bool,
    label_key: str,
    container_pattern: str,
    image_pattern: str,
) -> list[str]:
    """Reasons to refuse a scope. An exception always names a scope: a rule accepted on the
    whole fleet is a profile decision (turn the rule off), not a risk exception."""
    errors: list[str] = []
    limited = has_host or bool(label_key)
    if not (limited or container_pattern or image_pattern):
        errors.append(
            _("Choose a scope: a host, a label, a container pattern or an image pattern.")
        )
    for pattern in (container_pattern, image_pattern):
        if pattern and too_broad(pattern) and not limited:
            errors.append(
                _("A pattern of wildcards only matches everything: limit it to a host or a label.")
            )
            break
    if container_pattern and rule_scope is not None and rule_scope is not Scope.CONTAINER:
        errors.append(_("A container pattern only applies to a container rule."))
    if image_pattern and rule_scope is Scope.DAEMON:
        errors.append(_("An image pattern does not apply to a daemon rule."))
    return errors
