"""The report page keeps a period's report a minute per scope, like the trends page."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.cache import cache

from access.scope import Scope
from tests.factories import HostFactory, ScoreSampleFactory
from tests.trends.conftest import at
from trends.periods import last_complete
from trends.reports import cached_report
from trends.rollup import rollup_scores

pytestmark = pytest.mark.django_db


def scanned(name: str, team: str, day: date) -> None:
    host = HostFactory(name=name, labels={"team": team})
    ScoreSampleFactory(host=host, taken_at=at(day), score=70)


def test_a_report_is_kept_per_scope_and_period(settings) -> None:
    """GIVEN a month with one host of team pay scanned, the report kept 60 s
    WHEN a second host is scanned in that month and the report is asked again
    THEN the same scope and period get the kept report, another scope or period is
    computed afresh, and with caching off every call is fresh."""
    settings.POSTURE_TRENDS_CACHE_SECONDS = 60
    cache.clear()
    month = last_complete("month", date.today())
    scanned("pay-1", "pay", month.start + timedelta(days=3))
    rollup_scores()
    everything, pay = Scope.everything(), Scope.of_teams(["pay"])

    assert cached_report("month", "", everything, month).hosts == 1
    scanned("pay-2", "pay", month.start + timedelta(days=4))
    rollup_scores()
    assert cached_report("month", "", everything, month).hosts == 1  # kept
    assert cached_report("month", "", pay, month).hosts == 2  # another scope
    assert cached_report("month", "pay", everything, month).hosts == 2  # another team

    settings.POSTURE_TRENDS_CACHE_SECONDS = 0
    assert cached_report("month", "", everything, month).hosts == 2
