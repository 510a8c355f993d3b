"""Teams managed by admins in the app: created, renamed or relabelled, deleted once empty."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from access.models import Team
from audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(UserFactory())
    return client


def test_a_team_is_created_from_the_list(admin_client: Client) -> None:
    response = admin_client.post(reverse("teams"), {"name": "Payments", "label": "pay"})

    assert response.status_code == 302
    team = Team.objects.get()
    assert (team.name, team.label) == ("Payments", "pay")
    event = AuditEvent.objects.get(action="team.created")
    assert event.changes == {"name": [None, "Payments"], "label": [None, "pay"]}
    assert "team=pay" in admin_client.get(reverse("teams")).content.decode()


def test_a_label_that_is_no_label_value_is_refused_in_place(admin_client: Client) -> None:
    response = admin_client.post(reverse("teams"), {"name": "Payments", "label": "pay team!"})

    assert response.status_code == 200
    assert "Use letters, digits" in response.content.decode()
    assert not Team.objects.exists()


def test_renaming_and_relabelling_are_audited(admin_client: Client) -> None:
    team = Team.objects.create(name="Payments", label="pay")

    response = admin_client.post(
        reverse("team-edit", args=[team.pk]), {"name": "Payments", "label": "payments"}
    )

    assert response.status_code == 302
    team.refresh_from_db()
    assert team.label == "payments"
    assert AuditEvent.objects.get(action="team.updated").changes == {"label": ["pay", "payments"]}


def test_an_empty_team_is_deleted_after_a_confirmation(admin_client: Client) -> None:
    team = Team.objects.create(name="Payments", label="pay")
    url = reverse("team-edit", args=[team.pk])

    confirm = admin_client.get(url + "?delete")
    deleted = admin_client.post(url, {"confirm": "1"})

    assert confirm.status_code == 200 and "Delete the team Payments?" in confirm.content.decode()
    assert deleted.status_code == 302
    assert not Team.objects.exists()
    assert AuditEvent.objects.get(action="team.deleted").details["label"] == "pay"


def test_a_team_with_members_is_not_deleted(admin_client: Client) -> None:
    """A viewer whose last team went away would see the whole fleet: members move first."""
    team = Team.objects.create(name="Payments", label="pay")
    UserFactory(username="manager", role="viewer", role__teams=[team])
    url = reverse("team-edit", args=[team.pk])

    response = admin_client.post(url, {"confirm": "1"})

    assert response.status_code == 200
    assert "Move its members to other teams first" in response.content.decode()
    assert Team.objects.filter(pk=team.pk).exists()
    assert not AuditEvent.objects.filter(action="team.deleted").exists()
