"""posture.lib.htmx: one answer to "does this request want only a fragment?", on every page.

A plain hx-get wants the swapped partial; a boosted request and htmx restoring a page
missing from its history cache want the whole page (the second swaps it into <body>)."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse
from django_htmx.http import HttpResponseStopPolling
from django_htmx.middleware import HtmxMiddleware

from posture.lib.htmx import fragment_requested, render_polled, template_for
from tests.factories import FindingFactory, HostFactory, HostPostureFactory, UserFactory

HX = {"HX-Request": "true"}
BOOSTED = {**HX, "HX-Boosted": "true"}
HISTORY_RESTORE = {**HX, "HX-History-Restore-Request": "true"}


def htmx_request(headers: dict[str, str]) -> HttpRequest:
    request = RequestFactory().get("/", headers=headers)
    HtmxMiddleware(lambda r: HttpResponse())(request)
    return request


@pytest.mark.parametrize(
    "headers, wanted",
    [({}, False), (HX, True), (BOOSTED, False), (HISTORY_RESTORE, False)],
    ids=["plain", "hx-get", "boosted", "history-restore"],
)
def test_fragment_requested(headers: dict[str, str], wanted: bool) -> None:
    request = htmx_request(headers)
    assert fragment_requested(request) is wanted
    page = "fleet/fleet.html"
    assert template_for(request, page, "fleet-table") == (f"{page}#fleet-table" if wanted else page)


def test_a_request_without_the_middleware_wants_the_page() -> None:
    assert fragment_requested(RequestFactory().get("/", headers=HX)) is False


@pytest.mark.django_db
def test_render_polled_stops_polling_once_done() -> None:
    request = htmx_request(HX)
    context = {"host": HostFactory(name="polled"), "status": None}
    going = render_polled(request, "fleet/status.html", context, done=False)
    done = render_polled(request, "fleet/status.html", context, done=True)
    assert going.status_code == 200 and not isinstance(going, HttpResponseStopPolling)
    assert isinstance(done, HttpResponseStopPolling) and done.status_code == 286
    assert done.content == going.content  # the final state is still swapped in


# --- Every page, through the client -------------------------------------------------------


@pytest.fixture
def pages(client: Client) -> dict[str, str]:
    """Each htmx page's URL, with the data it needs not to be a 404."""
    client.force_login(UserFactory(username="fragments"))
    host = HostFactory(name="web-1", labels={"env": "prod"})
    HostPostureFactory(host=host)
    finding = FindingFactory(host=host, subject_name="shop")
    image = FindingFactory(host=host, subject_kind="image", subject_key="sha256:" + "a" * 64)
    return {
        "fleet": reverse("fleet"),
        "rules": reverse("rules"),
        "rule": reverse("rule-detail", args=[finding.rule_id]),
        "containers": reverse("containers") + "?name=shop",
        "image": reverse("image-detail", args=[image.subject_key]),
        "trends": reverse("trends"),
        "report": reverse("report"),
        "alerts": reverse("alerts"),
        "report-subscriptions": reverse("report-subscriptions"),
        "exceptions": reverse("exceptions"),
    }


PAGES = (
    "fleet",
    "rules",
    "rule",
    "containers",
    "image",
    "trends",
    "report",
    "alerts",
    "report-subscriptions",
    "exceptions",
)


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(
    "headers, whole",
    [({}, True), (HX, False), (BOOSTED, True), (HISTORY_RESTORE, True)],
    ids=["plain", "hx-get", "boosted", "history-restore"],
)
def test_every_page_answers_the_same_way(
    client: Client, pages: dict[str, str], page: str, headers: dict[str, str], whole: bool
) -> None:
    response = client.get(pages[page], headers=headers)
    assert response.status_code == 200
    assert ("<html" in response.content.decode()) is whole
    assert "HX-Request" in response.headers.get("Vary", "")


@pytest.mark.django_db
@pytest.mark.parametrize("headers", [BOOSTED, HISTORY_RESTORE], ids=["boosted", "history-restore"])
def test_a_whole_page_carries_no_out_of_band_counters(
    client: Client, pages: dict[str, str], headers: dict[str, str]
) -> None:
    """The fleet table's counters travel out of band with a swapped table only: in a whole
    page they would be a second #fleet-counts."""
    body = client.get(pages["fleet"], headers=headers).content.decode()
    assert body.count('id="fleet-counts"') == 1 and "hx-swap-oob" not in body
    fragment = client.get(pages["fleet"], headers=HX).content.decode()
    assert 'id="fleet-counts"' in fragment and "hx-swap-oob" in fragment


@pytest.mark.django_db
def test_messages_are_shown_once(client: Client, pages: dict[str, Any]) -> None:
    """A swapped panel carries its messages; a whole page shows them once, in base.html."""
    data = {"period": "week", "team": ""}
    swapped = client.post(reverse("report-subscriptions"), data, headers=HX).content.decode()
    assert swapped.count("You will receive this report by email.") == 1
    client.post(reverse("report-subscriptions"), {"period": "month"}, headers=BOOSTED)
    page = client.get(reverse("report-subscriptions"), headers=BOOSTED).content.decode()
    assert page.count("You will receive this report by email.") == 1
