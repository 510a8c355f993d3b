"""Fleet score series through the API: past days from the rollups, today from the live
samples, within the token's teams; one series per team."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.api.conftest import bearer
from tests.factories import HostFactory, ScoreSampleFactory, UserFactory
from trends.models import DailyFleetScore

pytestmark = pytest.mark.django_db


@pytest.fixture
def history() -> dict[str, Any]:
    pay = HostFactory(name="pay-1", labels={"team": "pay", "env": "prod"})
    web = HostFactory(name="web-1", labels={"team": "web", "env": "prod"})
    ScoreSampleFactory(host=pay, score=60)
    ScoreSampleFactory(host=web, score=90)
    yesterday = timezone.localdate() - timedelta(days=1)
    DailyFleetScore.objects.create(day=yesterday, team="pay", env="prod", hosts=1, score_sum=50)
    DailyFleetScore.objects.create(day=yesterday, team="web", env="prod", hosts=1, score_sum=80)
    return {"admin": UserFactory(), "yesterday": yesterday}


def points(series: list[dict[str, Any]]) -> list[tuple[float | None, int]]:
    return [(p["score"], p["hosts"]) for p in series[-2:]]


def test_fleet_series_ends_today_and_is_scoped(
    api: Client, token_for: Callable[..., str], history: dict[str, Any]
) -> None:
    raw = token_for(history["admin"])
    fleet = api.get("/api/v1/trends/fleet/?days=30", **bearer(raw)).json()
    assert fleet["days"] == 30 and len(fleet["series"]) == 30
    assert fleet["series"][-1]["day"] == timezone.localdate().isoformat()
    assert fleet["series"][-2]["day"] == history["yesterday"].isoformat()
    assert points(fleet["series"]) == [(65.0, 2), (75.0, 2)]
    assert fleet["series"][0]["score"] is None  # no samples that day
    pay = token_for(history["admin"], "viewer", ("pay",))
    mine = api.get("/api/v1/trends/fleet/?days=30", **bearer(pay)).json()
    assert points(mine["series"]) == [(50.0, 1), (60.0, 1)]
    # Asking for another team's series gives no figures, never theirs.
    other = api.get("/api/v1/trends/fleet/?days=30&team=web", **bearer(pay)).json()
    assert points(other["series"]) == [(None, 0), (None, 0)]
    # The page's lenient range: an unknown one is the default 90 days.
    assert len(api.get("/api/v1/trends/fleet/?days=7", **bearer(raw)).json()["series"]) == 90


def test_one_series_per_team_the_token_sees(
    api: Client, token_for: Callable[..., str], history: dict[str, Any]
) -> None:
    every = api.get("/api/v1/trends/teams/?days=30", **bearer(token_for(history["admin"])))
    teams = {t["team"]: points(t["series"]) for t in every.json()["teams"]}
    assert teams == {"pay": [(50.0, 1), (60.0, 1)], "web": [(80.0, 1), (90.0, 1)]}
    web = token_for(history["admin"], "operator", ("web",))
    only = api.get("/api/v1/trends/teams/?days=30", **bearer(web)).json()
    assert [t["team"] for t in only["teams"]] == ["web"]
