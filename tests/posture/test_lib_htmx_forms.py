"""One way everywhere: every form of the app, submitted refused, answers with the form again
and its errors; 422 to htmx (base.html's htmx-config swaps it in place) and 200 to a plain
POST (posture.lib.htmx.invalid_status / form_status). The browser side, each error seen at
its field: tests/system/browser/test_every_form.py."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.models import Team
from posture.lib.htmx import form_status, invalid_status
from tests.factories import HostFactory, UserFactory
from tests.posture.test_lib_htmx import HX, htmx_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects() -> dict[str, Any]:
    return {
        "host": HostFactory(name="pay-1"),
        "team": Team.objects.create(name="Payments", label="payments"),
        "user": UserFactory(username="omar", role="viewer"),
    }


# (url name, its arguments from the objects, refused data, what the refusal says)
REFUSED: list[tuple[str, str | None, dict[str, str], str]] = [
    ("account", None, {"email": "not an address", "language": ""}, "valid email address"),
    ("password-change", None, {"old_password": "wrong", "new_password1": "x"}, "incorrectly"),
    ("mfa", None, {"token": "not a code"}, "not valid"),
    ("user-add", None, {"username": "", "role": "viewer"}, "required"),
    ("user-edit", "user", {"action": "save", "role": "emperor"}, "valid choice"),
    ("teams", None, {"name": "", "label": ""}, "required"),
    ("team-edit", "team", {"name": "", "label": ""}, "required"),
    ("host-add", None, {"name": "", "endpoint": "nowhere"}, "required"),
    ("host-edit", "host", {"name": "pay-1", "endpoint": "", "scan_interval": "15"}, "required"),
    ("profiles", None, {"rule_id": "CTR-PRIVILEGED", "action": "disable"}, "required"),
    ("exceptions", None, {"rule_id": "CTR-PRIVILEGED", "host": "pay-1"}, "required"),
    ("alerts", None, {"scope": "host", "min_severity": "3", "delivery": "immediate"}, "host"),
    ("report-subscriptions", None, {"period": "fortnight"}, "valid choice"),
]


def url_of(name: str, arg: str | None, objects: dict[str, Any]) -> str:
    if arg is None:
        return reverse(name)
    target = objects[arg]
    return reverse(name, args=[target.name if arg == "host" else target.pk])


@pytest.mark.parametrize(("name", "arg", "data", "says"), REFUSED, ids=[r[0] for r in REFUSED])
@pytest.mark.parametrize(("headers", "status"), [({}, 200), (HX, 422)], ids=["plain", "htmx"])
def test_a_refused_form_answers_the_same_way_everywhere(
    client: Client,
    objects: dict[str, Any],
    name: str,
    arg: str | None,
    data: dict[str, str],
    says: str,
    headers: dict[str, str],
    status: int,
) -> None:
    client.force_login(UserFactory(username="root"))  # an admin: every form is offered

    response = client.post(url_of(name, arg, objects), data, headers=headers)

    assert response.status_code == status
    body = response.content.decode()
    assert "<form" in body and says in body


def test_the_sign_in_form_answers_the_same_way(client: Client) -> None:
    data = {"username": "nobody", "password": "wrong"}

    plain = client.post(reverse("login"), data)
    swapped = client.post(reverse("login"), data, headers=HX)

    assert (plain.status_code, swapped.status_code) == (200, 422)
    assert "correct username and password" in swapped.content.decode()


def test_the_status_helpers() -> None:
    class Bound:
        is_bound = True

    class Blank:
        is_bound = False

    assert invalid_status(htmx_request({})) == 200
    assert invalid_status(htmx_request(HX)) == 422
    assert form_status(htmx_request(HX), Blank()) == 200
    assert form_status(htmx_request(HX), Bound()) == 422
