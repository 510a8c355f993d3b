"""Every account page renders for the account that may see it, in both languages, with
nothing inline that the CSP would refuse."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from access.models import Team
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

INLINE = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", re.I)


@pytest.mark.parametrize("language", ["en", "fr"])
def test_pages_render_without_inline_code(client: Client, language: str) -> None:
    team = Team.objects.create(name="Payments", label="pay")
    admin = UserFactory()
    other = UserFactory(role="operator", role__teams=[team])
    client.force_login(admin)
    client.cookies["django_language"] = language
    urls = [
        reverse("account"),
        reverse("password-change"),
        reverse("mfa"),
        reverse("users"),
        reverse("user-add"),
        reverse("user-edit", args=[other.pk]),
        reverse("teams"),
        reverse("team-edit", args=[team.pk]),
        reverse("team-edit", args=[team.pk]) + "?delete",
        reverse("welcome", args=["MQ", "not-a-token"]),
    ]
    for url in urls:
        response = client.get(url, headers={"Accept-Language": language})
        html = response.content.decode()

        assert response.status_code == 200, url
        assert not INLINE.search(html), url


def test_the_nav_offers_users_and_teams_to_admins_only(client: Client) -> None:
    client.force_login(UserFactory())
    admin_nav = client.get(reverse("account")).content.decode()
    client.force_login(UserFactory(role="security"))
    security_nav = client.get(reverse("account")).content.decode()

    assert reverse("users") in admin_nav and reverse("teams") in admin_nav
    assert reverse("users") not in security_nav and reverse("teams") not in security_nav
    assert f'href="{reverse("account")}"' in security_nav
