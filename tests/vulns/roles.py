"""Accounts of every role for the access tests of vulns and policy: an admin, a security
engineer of the whole fleet, one of team web only, an operator of team pay, a viewer of the
whole fleet and a viewer of team web (a manager).

    accounts = make_accounts()
    client = signed_in(accounts["operator"])
"""

from __future__ import annotations

from typing import Any

from django.test import Client

from access.models import Team
from tests.factories import UserFactory

ROLES = ("admin", "security", "operator", "viewer", "viewer_web")


def make_accounts() -> dict[str, Any]:
    pay, _ = Team.objects.get_or_create(name="Payments", label="pay")
    web, _ = Team.objects.get_or_create(name="Web", label="web")
    return {
        "admin": UserFactory(username="ada", role="admin"),
        "security": UserFactory(username="sam", role="security"),
        "security_b": UserFactory(username="sol", role="security"),
        "security_web": UserFactory(username="sue", role="security", role__teams=[web]),
        "operator": UserFactory(username="otto", role="operator", role__teams=[pay]),
        "viewer": UserFactory(username="vera", role="viewer"),
        "viewer_web": UserFactory(username="vic", role="viewer", role__teams=[web]),
    }


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client
