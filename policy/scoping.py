"""Which exceptions and overrides an account's scope sees, and which it may make or act on.

Seeing: a decision naming a host is seen by the accounts whose scope holds that host; one
naming a label (and no host) by the accounts with at least one host carrying that label
(team=pay: team pay's; env=prod: every team with a production host); an exception naming
neither (container or image patterns only) reaches every host, so every account sees it.
The whole fleet's accounts see everything.

Acting (requesting, approving, rejecting, revoking, removing): an account limited to some
teams may only touch its own hosts, so the decision must name one of its hosts or its team's
label (team=<one of its teams>); a decision reaching other teams' hosts is for an account of
the whole fleet.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from access.scope import TEAM_LABEL, Scope
from hosts.models import Host

M = TypeVar("M", bound=QuerySet[Any])


def label_values(scope: Scope) -> dict[str, set[str]]:
    """{label key: values} over the hosts of `scope` (one statement)."""
    found: dict[str, set[str]] = defaultdict(set)
    for labels in scope.filter(Host.objects.all()).values_list("labels", flat=True):
        if isinstance(labels, dict):
            for key, value in labels.items():
                found[str(key)].add(str(value))
    return found


def concerning(queryset: M, scope: Scope) -> M:
    """The rows of an exception or override queryset that `scope` sees (rule above)."""
    if scope.all_hosts:
        return queryset
    seen = Q(host__isnull=False) & scope.host_q("host__")
    # Patterns only (exceptions): bound to no host. Overrides always name a host or a label.
    seen |= Q(host__isnull=True, label_key="")
    # One condition per label key, not per pair: a fleet has a few keys and many values, and
    # SQLite refuses expressions deeper than 1,000.
    for key, values in label_values(scope).items():
        seen |= Q(host__isnull=True, label_key=key, label_value__in=sorted(values))
    return queryset.filter(seen)


def hosts_of(scope: Scope) -> QuerySet[Host]:
    """The hosts an account may pick in a policy form."""
    return scope.filter(Host.objects.all())


def may_target(scope: Scope, host: Host | None, label_key: str, label_value: str) -> bool:
    """Whether an account of `scope` may make or act on a decision with this host / label."""
    if scope.all_hosts:
        return True
    if host is not None:
        return scope.allows_labels(host.labels)
    return label_key == TEAM_LABEL and label_value in scope.teams


def actionable(queryset: QuerySet[Any], scope: Scope, pk: int) -> Any:
    """The exception or override `pk` for an account of `scope` to approve, reject, revoke
    or remove: Http404 outside what it sees (its existence is not given away),
    PermissionDenied when it also reaches other teams' hosts."""
    row = get_object_or_404(concerning(queryset, scope), pk=pk)
    if not may_target(scope, row.host, row.label_key, row.label_value):
        raise PermissionDenied
    return row


def target_error(scope: Scope) -> str:
    teams = ", ".join(f"{TEAM_LABEL}={t}" for t in scope.teams) or "—"
    return _(
        "Your account acts on its teams' hosts only: name one of them, or your team's label "
        "(%(teams)s)."
    ) % {"teams": teams}
