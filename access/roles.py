"""Who may do what: four roles and the permissions each grants (docs/SECURITY.md).

Pure data, no query: a permission is checked against a role here, and against a host's
labels by access.scope. The table is the one place to read what a role can do.
"""

from __future__ import annotations

from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("admin")
    SECURITY = "security", _("security")
    OPERATOR = "operator", _("operator")
    VIEWER = "viewer", _("viewer")


class Perm(StrEnum):
    VIEW = "view"  # dashboards, trends, reports, the pages of hosts in scope
    EXPORT = "export"  # CSV / JSON / SARIF / SBOM / VEX downloads
    HOST_EDIT = "host.edit"  # add, edit, delete a host (its credentials included)
    HOST_SCAN = "host.scan"  # "Scan now"
    POLICY = "policy.manage"  # rule profiles (rules turned off or re-graded for a label)
    EXCEPTION_REQUEST = "exception.request"  # ask for a risk exception on hosts in scope
    EXCEPTION_APPROVE = "exception.approve"  # approve / revoke one
    TRIAGE = "vuln.triage"  # vulnerability decisions (VEX)
    METRICS = "metrics.view"  # /metrics for a signed-in user
    USERS = "users.manage"  # users, roles, teams
    AUDIT = "audit.view"  # the audit trail
    LOCAL_ENDPOINTS = "host.unix"  # unix:// endpoints: a socket on Posture's own machine


GRANTS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    # The security team owns the policy and the fleet's verdicts; it may scan and manage
    # hosts (all of them unless it is given teams) but not accounts or the audit trail.
    Role.SECURITY: frozenset(
        {
            Perm.VIEW,
            Perm.EXPORT,
            Perm.HOST_EDIT,
            Perm.HOST_SCAN,
            Perm.POLICY,
            Perm.EXCEPTION_REQUEST,
            Perm.EXCEPTION_APPROVE,
            Perm.TRIAGE,
            Perm.METRICS,
        }
    ),
    # Ops teams: their own hosts only (an operator without a team sees none).
    Role.OPERATOR: frozenset({Perm.VIEW, Perm.HOST_EDIT, Perm.HOST_SCAN, Perm.EXCEPTION_REQUEST}),
    # Managers: read-only dashboards, trends and reports.
    Role.VIEWER: frozenset({Perm.VIEW}),
}

# Roles whose view of the fleet is always limited to their teams' hosts. Security and
# viewer accounts see the whole fleet unless they are given teams; admins always do.
ALWAYS_SCOPED = frozenset({Role.OPERATOR})


def grants(role: Role | str, perm: Perm) -> bool:
    return perm in GRANTS.get(Role(role), frozenset())
