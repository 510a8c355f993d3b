"""Alerts stay within the recipient's teams: whatever a subscription says, a user hears only
of hosts in their scope as it is when the message goes out; the users' scopes are read in
one query per event, however many subscribers it has."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from access.models import AccessProfile, Team
from access.services import access_for, set_role
from alerts import audience, services
from alerts.models import Event, Notification, Subscription
from hosts.models import Host
from lab.smtp import LabSmtp
from tests.alerts.helpers import Scans, privileged, text_part
from tests.factories import HostFactory, UserFactory

pytestmark = pytest.mark.django_db
Status = Notification.Status


@pytest.fixture
def teams() -> dict[str, Team]:
    return {
        "payments": Team.objects.create(name="Payments", label="payments"),
        "web": Team.objects.create(name="Web", label="web"),
    }


def subscribe(user: Any, **fields: Any) -> Subscription:
    fields.setdefault("scope", Subscription.Scope.ALL)
    return Subscription.objects.create(user=user, min_severity=3, **fields)


def test_a_user_outside_the_hosts_team_is_not_told(
    host: Host, scans: Scans, lab_smtp: LabSmtp, teams: dict[str, Team]
) -> None:
    """GIVEN the host is team payments'; four users subscribed to every host
    THEN the payments operator, an unscoped viewer and the admin are told; the web
    operator and a viewer of web are not, whatever their subscription says."""
    people = {
        "pay-op": ("operator", ["payments"]),
        "web-op": ("operator", ["web"]),
        "web-viewer": ("viewer", ["web"]),
        "viewer": ("viewer", []),
        "admin": ("admin", []),
    }
    for name, (role, names) in people.items():
        user = UserFactory(
            username=name,
            email=f"{name}@example.org",
            role=role,
            role__teams=[teams[t] for t in names],
        )
        subscribe(user)
    subscribe(
        get_user_model().objects.get(username="web-op"),
        scope=Subscription.Scope.LABEL,
        label_selector="team=payments",
    )

    scans.success(host, opened=[privileged("db")])

    told = {m["To"] for m in lab_smtp.wait_for(3)}
    assert told == {"pay-op@example.org", "viewer@example.org", "admin@example.org"}
    assert set(Notification.objects.values_list("user__username", flat=True)) == {
        "pay-op",
        "viewer",
        "admin",
    }


def test_fan_out_reads_every_subscribers_scope_in_one_query(
    host: Host, teams: dict[str, Team]
) -> None:
    """The number of statements of a fan-out does not grow with the subscribers' roles
    and teams: one lookup for all of them, plus what each notification costs anyway."""
    from alerts.models import Regression

    regression = Regression.objects.create(host=host, kind="finding", key="k", severity=4)

    def statements(event: Event) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            sent = services.fan_out(event, event.created_at)
        scope_reads = [q for q in captured.captured_queries if "access_accessprofile" in q["sql"]]
        return len(scope_reads), len(sent)

    def add(n: int, offset: int) -> None:
        for i in range(n):
            role, names = [("operator", ["payments"]), ("viewer", ["web"]), ("viewer", [])][i % 3]
            user = UserFactory(
                username=f"u{offset + i}", role=role, role__teams=[teams[t] for t in names]
            )
            subscribe(user)

    add(3, 0)
    first = Event.objects.create(regression=regression, phase="opened")
    assert statements(first) == (1, 2)  # the web viewer is left out
    add(9, 100)
    second = Event.objects.create(regression=regression, phase="recovered")
    assert statements(second) == (1, 8)


ROLES = [
    ("admin", []),
    ("admin", ["web"]),
    ("security", []),
    ("security", ["web"]),
    ("operator", []),
    ("operator", ["web", "payments"]),
    ("viewer", []),
    ("viewer", ["web"]),
]


def test_the_one_query_scopes_equal_access_for_each_user(teams: dict[str, Team]) -> None:
    users = [
        UserFactory(username=f"r{i}", role=role, role__teams=[teams[t] for t in names])
        for i, (role, names) in enumerate(ROLES)
    ]
    bare = UserFactory(username="nobody-profile")
    AccessProfile.objects.filter(user=bare).delete()  # a viewer of the whole fleet
    users.append(bare)
    root = UserFactory(username="root", role="viewer", role__teams=[teams["web"]])
    root.is_superuser = True
    root.save()
    users.append(root)

    found = audience.scopes(users)
    assert found == {u.pk: access_for(u).scope for u in users}


def test_a_held_message_is_withheld_if_the_user_left_the_team_before_the_digest(
    host: Host, scans: Scans, lab_smtp: LabSmtp, teams: dict[str, Team]
) -> None:
    """GIVEN a payments operator with a daily digest, and another host of team web
    WHEN both hosts regress and the operator is moved to web before the digest goes out
    THEN the digest holds web's event only; payments' is withheld, never sent."""
    lead = UserFactory(
        username="lead",
        email="lead@example.org",
        role="operator",
        role__teams=[teams["payments"], teams["web"]],
    )
    subscribe(lead, delivery=Subscription.Delivery.DIGEST)
    web = HostFactory(name="web-1", labels={"team": "web"})
    scans.success(host, opened=[privileged("pay-db")])
    scans.success(web, opened=[privileged("web-app")])
    held = list(Notification.objects.filter(user=lead))
    assert {n.status for n in held} == {Status.HELD}

    set_role(lead, "operator", [teams["web"]])
    release = max(n.release_at for n in held if n.release_at) + timedelta(minutes=1)
    assert services.send_due(release) == 1
    [digest] = lab_smtp.wait_for(1)
    text = text_part(digest)
    assert "web-app" in text and "pay-db" not in text
    statuses = dict(
        Notification.objects.filter(user=lead, event__isnull=False).values_list(
            "event__regression__host__name", "status"
        )
    )
    assert statuses == {"pay-1": Status.WITHHELD, "web-1": Status.FOLDED}


def test_a_pending_message_the_sweep_sends_late_is_checked_again(
    host: Host, teams: dict[str, Team], lab_smtp: LabSmtp
) -> None:
    from alerts.models import Regression

    op = UserFactory(
        username="op", email="op@example.org", role="operator", role__teams=[teams["payments"]]
    )
    regression = Regression.objects.create(host=host, kind="finding", key="k", severity=4)
    event = Event.objects.create(regression=regression, phase="opened")
    n = Notification.objects.create(user=op, event=event, kind="finding", to=op.email)
    set_role(op, "operator", [teams["web"]])

    assert services.send_notification(n.pk) is False
    n.refresh_from_db()
    assert n.status == Status.WITHHELD
    assert lab_smtp.messages == []
