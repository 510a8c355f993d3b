"""The trends and report pages: login, rendering, htmx fragments, escaping, query counts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from rules import Severity
from tests.factories import FindingFactory, HostFactory, ScoreSampleFactory
from tests.trends.conftest import at, days_ago
from trends.periods import KINDS, last_complete
from trends.rollup import rollup_scores

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script>'
# A host name cannot hold "/" (it is a URL segment), so its attack has none.
HOSTILE_NAME = "x<img src=x onerror=alert(1)>"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)

PAGES = [
    "/trends/",
    "/trends/?team=payments&env=prod&days=30",
    "/trends/?rule=CTR-PRIVILEGED&days=365",
    "/reports/",
    "/reports/?period=month&team=payments",
    "/reports/?period=quarter",
]


def make_fleet(n: int, prefix: str = "h") -> None:
    """GIVEN n hosts with a week of samples and a few findings each."""
    now = timezone.now()
    for i in range(n):
        host = HostFactory(
            name=f"{prefix}{i:03d}", labels={"team": ["payments", "web"][i % 2], "env": "prod"}
        )
        for day in (9, 8, 3, 1, 0):
            ScoreSampleFactory(host=host, taken_at=at(days_ago(day), 1 + i % 20), score=50 + i % 50)
        # The last day of each kind's last complete period: every default report has data.
        for kind in KINDS:
            ScoreSampleFactory(
                host=host, taken_at=at(last_complete(kind, timezone.localdate()).last_day, 23)
            )
        FindingFactory(host=host, opened_at=now - timedelta(days=20 + i))
        FindingFactory(
            host=host,
            rule_id="IMG-ROOT",
            severity=Severity.HIGH,
            opened_at=now - timedelta(days=10),
            resolved_at=now - timedelta(days=2),
        )
    rollup_scores()


@pytest.mark.parametrize("url", ["/trends/", "/reports/"])
def test_pages_require_login(client: Client, url: str):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("url", PAGES)
def test_pages_render_without_inline_code(user_client: Client, url: str):
    make_fleet(3)

    response = user_client.get(url)
    html = response.content.decode()

    assert response.status_code == 200
    assert "<svg" in html
    assert 'class="visually-hidden"' in html
    assert not INLINE_SCRIPT.search(html)
    assert not INLINE_STYLE.search(html)


def test_trends_page_shows_score_comparisons_and_links_criticals_to_hosts(user_client: Client):
    make_fleet(3)

    html = user_client.get("/trends/").content.decode()

    assert "vs 30 days ago" in html
    assert f'href="{reverse("host-detail", args=["h002"])}"' in html
    assert 'hx-get="/trends/?rule=CTR-PRIVILEGED"' in html
    assert 'href="/trends/?rule=CTR-PRIVILEGED"' in html


def test_htmx_request_gets_only_the_fragment(user_client: Client):
    make_fleet(2)

    trends = user_client.get("/trends/?team=web", headers={"HX-Request": "true"})
    report = user_client.get("/reports/?period=month", headers={"HX-Request": "true"})

    assert trends.content.decode().lstrip().startswith('<div id="trends-body"')
    assert report.content.decode().lstrip().startswith('<div id="report-main"')
    assert b"<html" not in trends.content + report.content


def test_hostile_host_names_and_labels_are_escaped(user_client: Client):
    host = HostFactory(name=HOSTILE_NAME, labels={"team": HOSTILE, "env": HOSTILE})
    ScoreSampleFactory(host=host, taken_at=timezone.now())
    FindingFactory(host=host, subject_name=HOSTILE, rule_id=HOSTILE[:60])
    rollup_scores()

    for url in ("/trends/", "/reports/", f"/trends/?team={HOSTILE}", f"/reports/?team={HOSTILE}"):
        html = user_client.get(url).content.decode()

        assert HOSTILE not in html, url
        assert HOSTILE_NAME not in html, url
        assert "&lt;script&gt;" in html, url


@pytest.mark.parametrize("url", PAGES)
def test_query_count_does_not_grow_with_the_fleet(
    user_client: Client, url: str, django_assert_num_queries
):
    make_fleet(3, "small")
    with CaptureQueriesContext(connection) as small:
        assert user_client.get(url).status_code == 200
    make_fleet(30, "big")

    with django_assert_num_queries(len(small.captured_queries)):
        assert user_client.get(url).status_code == 200


def test_trends_figures_are_kept_a_while_per_filters_and_say_when(user_client: Client, settings):
    from django.core.cache import cache

    settings.POSTURE_TRENDS_CACHE_SECONDS = 60
    cache.clear()
    make_fleet(2)
    first = user_client.get("/trends/").content.decode()
    assert "2 hosts scanned" in first
    assert "Figures as of" in first

    make_fleet(1, prefix="new")  # a third host scanned today
    assert "2 hosts scanned" in user_client.get("/trends/").content.decode()  # kept
    # Other filters, or another language, are other entries: computed afresh.
    assert "3 hosts scanned" in user_client.get("/trends/?env=prod").content.decode()
    cache.clear()
    assert "3 hosts scanned" in user_client.get("/trends/").content.decode()

    settings.POSTURE_TRENDS_CACHE_SECONDS = 0
    make_fleet(1, prefix="more")
    assert "4 hosts scanned" in user_client.get("/trends/").content.decode()
