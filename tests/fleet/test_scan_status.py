"""Scan now and the status fragment that polls until the scan is over (HTTP 286)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from scans.models import ScanRun
from tests.factories import HostFactory, HostPostureFactory, ScanRunFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def user_client(client: Client) -> Client:
    client.force_login(UserFactory())
    return client


def test_status_stops_polling_when_no_scan_is_active(user_client: Client):
    host = HostFactory()
    HostPostureFactory(host=host)

    response = user_client.get(reverse("host-status", args=[host.name]), headers=HTMX)
    html = response.content.decode()

    assert response.status_code == 286
    assert "status-ok" in html
    assert "hx-trigger" not in html


def test_status_keeps_polling_while_a_scan_is_active(user_client: Client):
    host = HostFactory()
    ScanRunFactory(host=host, queued=True)
    url = reverse("host-status", args=[host.name])

    response = user_client.get(url, headers=HTMX)
    html = response.content.decode()

    assert response.status_code == 200
    assert "Scanning…" in html
    assert f'hx-get="{url}" hx-trigger="every 2s" hx-swap="outerHTML"' in html


def test_row_status_answers_with_the_fresh_fleet_row(user_client: Client):
    host = HostFactory(name="rowhost")
    scan = ScanRunFactory(host=host, active=True)
    url = reverse("host-status", args=[host.name]) + "?row=1"

    polling = user_client.get(url, headers=HTMX)
    assert polling.status_code == 200
    assert polling.content.decode().lstrip().startswith(f'<tr id="host-row-{host.pk}"')

    scan.status = ScanRun.Status.SUCCEEDED
    scan.save()
    HostPostureFactory(host=host, score=91, grade="A", current_scan=scan)
    done = user_client.get(url, headers=HTMX)
    html = done.content.decode()
    assert done.status_code == 286
    assert '<span class="grade grade-a">A</span><span class="score">91</span>' in html
    assert "hx-trigger" not in html


def test_row_status_of_unknown_host_is_404(user_client: Client):
    assert user_client.get(reverse("host-status", args=["nope"]) + "?row=1").status_code == 404


def test_scan_now_queues_one_scan_and_a_second_click_reuses_it(
    user_client: Client, django_capture_on_commit_callbacks
):
    host = HostFactory()
    url = reverse("host-scan", args=[host.name])

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = user_client.post(url, headers=HTMX)
        second = user_client.post(url, headers=HTMX)

    assert first.status_code == 200
    assert second.status_code == 200
    assert ScanRun.objects.filter(host=host).count() == 1
    assert ScanRun.objects.get(host=host).status == ScanRun.Status.QUEUED
    assert len(callbacks) == 1  # one Celery message for one scan
    html = first.content.decode()
    assert "Scanning…" in html
    assert 'hx-trigger="every 2s"' in html
    assert "?reload=1" in html


def test_scan_now_without_javascript_redirects_back(user_client: Client):
    host = HostFactory()

    response = user_client.post(reverse("host-scan", args=[host.name]), follow=True)

    assert response.redirect_chain == [(reverse("host-detail", args=[host.name]), 302)]
    assert "Scan queued." in response.content.decode()
    assert ScanRun.objects.filter(host=host).count() == 1


def test_scan_now_is_post_only(user_client: Client):
    host = HostFactory()

    assert user_client.get(reverse("host-scan", args=[host.name])).status_code == 405
    assert not ScanRun.objects.exists()


def test_host_page_offers_the_new_results_once_the_scan_is_over(user_client: Client):
    host = HostFactory()
    HostPostureFactory(host=host)

    response = user_client.get(reverse("host-status", args=[host.name]) + "?reload=1", headers=HTMX)

    assert response.status_code == 286
    assert f'href="{reverse("host-detail", args=[host.name])}"' in response.content.decode()


def test_host_page_badge_polls_while_a_scan_runs(user_client: Client):
    host = HostFactory()
    ScanRunFactory(host=host, active=True)
    status_url = reverse("host-status", args=[host.name])

    html = user_client.get(reverse("host-detail", args=[host.name])).content.decode()

    assert f'hx-get="{status_url}?reload=1" hx-trigger="every 2s"' in html
    assert "Show the new results" not in html
