"""What every answer tells browsers and proxies: no copy of a page or download that shows
the fleet is kept (Cache-Control: no-store), while static files and /healthz keep their
caching; and the HTTPS redirect spares the container health check."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.exceptions import NoReverseMatch

from findings.models import Container, Image
from tests.factories import (
    FindingFactory,
    HostFactory,
    HostPostureFactory,
    RiskExceptionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

CACHEABLE = {"healthz"}
CONTAINER_ID = "c" * 64


def every_pattern() -> Iterator[tuple[str, URLPattern]]:
    """(dotted name, pattern) of every URL of the resolver, Django's admin included."""

    def walk(resolver: URLResolver, prefix: str) -> Iterator[tuple[str, URLPattern]]:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry, prefix + (f"{entry.namespace}:" if entry.namespace else ""))
            elif entry.name:
                yield prefix + entry.name, entry

    yield from walk(get_resolver(), "")


# Where a URL names an object, one that exists (so the page itself renders); any other
# argument gets a value of its converter's type, and the answer (404, a redirect) must
# carry the header all the same.
def known_arguments() -> dict[str, dict[str, Any]]:
    host = HostFactory(name="pay-1", labels={"team": "pay"})
    posture = HostPostureFactory(host=host)
    FindingFactory(host=host, opened_scan=posture.current_scan)
    Container.objects.create(host=host, name="api", digest="d", container_id=CONTAINER_ID)
    Image.objects.create(
        host=host, name="pay/api:1", digest="d", image_id="sha256:" + "b" * 64, layers_key="k"
    )
    exception = RiskExceptionFactory(host=host)
    by_host = {"name": host.name}
    return {
        **dict.fromkeys(
            ("host-detail", "host-status", "host-edit", "host-delete", "host-scan"), by_host
        ),
        "container-detail": {"name": host.name, "container_id": CONTAINER_ID},
        "image-detail": {"ref": "pay/api:1"},
        "rule-detail": {"rule_id": "CTR-PRIVILEGED"},
        "exception-revoke": {"pk": exception.pk},
        "admin:app_list": {"app_label": "hosts"},
    }


DUMMY = {"int": 1, "str": "x", "path": "x", "slug": "x", "uuid": "0" * 32}


def url_of(name: str, pattern: URLPattern, known: dict[str, dict[str, Any]]) -> str:
    if name in known:
        return reverse(name, kwargs=known[name])
    converters = pattern.pattern.converters
    names = re.findall(r"\(\?P<(\w+)>", str(pattern.pattern.regex.pattern))
    kwargs = {
        arg: DUMMY.get(type(converters[arg]).__name__.lower().removesuffix("converter"), "x")
        if arg in converters
        else "1"
        for arg in names
    }
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        pytest.fail(f"{name}: give it arguments in known_arguments()")


def test_every_url_answers_a_signed_in_admin_with_no_store() -> None:
    known = known_arguments()
    # A dummy argument can make a third-party admin view fail (500): its answer must carry
    # the header too, so the error is answered rather than raised here.
    client = Client(raise_request_exception=False)
    # Staff too, so that Django's admin renders its pages rather than its login.
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    cached, checked = [], 0
    for name, pattern in every_pattern():
        url = url_of(name, pattern, known)
        response = client.get(url)
        checked += 1
        no_store = response.headers.get("Cache-Control") == "no-store"
        if no_store == (name in CACHEABLE):
            cached.append(
                f"{url} ({response.status_code}): {response.headers.get('Cache-Control')}"
            )
    assert checked > 40
    assert not cached


def test_pages_rendered_for_nobody_are_not_kept_either(client: Client) -> None:
    """The login page (its form carries a CSRF token), and whatever a view answers to a
    caller that is not signed in: nothing decides by the session alone."""
    for url in (reverse("login"), reverse("fleet"), "/no-such-page"):
        assert client.get(url).headers["Cache-Control"] == "no-store", url


def test_healthz_keeps_its_caching(client: Client) -> None:
    client.force_login(UserFactory())
    assert "no-store" not in client.get(reverse("healthz")).headers.get("Cache-Control", "")


@override_settings(WHITENOISE_USE_FINDERS=True)
def test_static_files_keep_their_caching() -> None:
    client = Client()  # built here: WhiteNoise reads its settings when it starts
    client.force_login(UserFactory())
    response = client.get("/static/vendor/htmx.min.js")
    assert response.status_code == 200
    assert "max-age" in response.headers["Cache-Control"]
    assert "no-store" not in response.headers["Cache-Control"]


@override_settings(SECURE_SSL_REDIRECT=True)
def test_https_redirect_spares_the_health_check_only() -> None:
    client = Client()
    assert client.get(reverse("healthz")).status_code == 200
    login = client.get(reverse("login"))
    assert login.status_code == 301
    assert login["Location"].startswith("https://")
