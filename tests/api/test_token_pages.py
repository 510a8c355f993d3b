"""The token pages: create (shown once), refused in place, revoke with confirmation, an
admin's service tokens."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from access.models import Team
from api.models import ApiToken
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_token_is_shown_once_then_only_named(client: Client) -> None:
    client.force_login(UserFactory(role="viewer"))
    page = client.post("/account/tokens/", {"name": "ci", "role": "viewer", "days": "30"})
    assert page.status_code == 200
    secret = page.context["issued"].secret
    assert secret in page.content.decode()
    token = ApiToken.objects.get()
    again = client.get("/account/tokens/").content.decode()
    assert secret not in again and f"pst_{token.key}_" in again


def test_a_wider_token_is_refused_in_place(client: Client) -> None:
    pay = Team.objects.create(name="Payments", label="pay")
    Team.objects.create(name="Web", label="web")
    client.force_login(UserFactory(role="operator", role__teams=[pay]))
    page = client.post(
        "/account/tokens/",
        {"name": "ci", "role": "security", "days": "400"},
        HTTP_HX_REQUEST="true",
    )
    assert page.status_code == 422
    errors = page.context["form"].errors
    assert {"role", "days"} <= set(errors)
    assert "web" not in [t.label for t in page.context["form"].fields["teams"].queryset]
    assert not ApiToken.objects.exists()


def test_revoke_asks_then_revokes(client: Client) -> None:
    user = UserFactory(role="viewer")
    client.force_login(user)
    client.post("/account/tokens/", {"name": "ci", "role": "viewer", "days": "30"})
    token = ApiToken.objects.get()
    url = f"/account/tokens/{token.pk}/revoke"
    assert "Revoke" in client.get(url).content.decode()
    assert ApiToken.objects.get().revoked_at is None
    assert client.post(url).status_code == 302
    assert ApiToken.objects.get().revoked_at is not None
    client.force_login(UserFactory(username="someone-else", role="viewer"))
    assert client.post(url).status_code == 404


def test_an_admin_makes_a_service_account_token(client: Client) -> None:
    client.force_login(UserFactory())
    page = client.post(
        "/access/tokens/",
        {"account": "gitlab-ci", "name": "pipeline", "role": "operator", "days": "90"},
    )
    assert "teams" in page.context["form"].errors, "an operator token needs a team"
    Team.objects.create(name="Payments", label="pay")
    pay = Team.objects.get()
    page = client.post(
        "/access/tokens/",
        {
            "account": "gitlab-ci",
            "name": "pipeline",
            "role": "operator",
            "teams": [pay.pk],
            "days": "90",
        },
    )
    assert page.context["issued"] is not None
    service = get_user_model().objects.get(username="gitlab-ci")
    assert not service.has_usable_password()
    person = UserFactory(username="alice")
    refused = client.post(
        "/access/tokens/", {"account": person.username, "name": "x", "role": "viewer", "days": "9"}
    )
    assert "account" in refused.context["form"].errors, "not a person's account"
