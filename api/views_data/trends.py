"""Fleet score series: the whole fleet in scope (GET /api/v1/trends/fleet/, with the trends
page's team and env filters) and one series per team (GET /api/v1/trends/teams/), from
trends.queries.fleet_series: the daily rollups for past days, the live samples for today."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.policy import allow
from access.roles import Perm
from api.base import ApiMixin
from api.serializers_data import FleetTrendSerializer, TeamTrendsSerializer
from trends import queries
from trends.filters import DEFAULT_RANGE, RANGES, TrendFilters
from trends.scope import Scope, label_values

DAYS = OpenApiParameter("days", int, enum=list(RANGES), default=DEFAULT_RANGE)


def series(scope: Scope, days: int) -> list[dict[str, Any]]:
    today = timezone.localdate()
    first: date = today - timedelta(days=days - 1)
    return [
        {"day": p.day, "score": None if p.mean is None else round(p.mean, 1), "hosts": p.hosts}
        for p in queries.fleet_series(scope, first, today)
    ]


@allow(Perm.VIEW)
class FleetTrend(ApiMixin, APIView):
    @extend_schema(
        tags=["trends"],
        parameters=[
            DAYS,
            OpenApiParameter("team", str, description="hosts labelled team=…"),
            OpenApiParameter("env", str, description="hosts labelled env=…"),
        ],
        responses=FleetTrendSerializer,
        description="The fleet score of each day (the mean of each host's last score of the "
        "day), oldest first; a day without samples has score null. A team outside the "
        "caller's scope has no hosts, hence no scores.",
    )
    def get(self, request: Request) -> Response:
        filters = TrendFilters.from_query(request.query_params)
        scope = Scope.within(self.access.scope, filters.team, filters.env)
        data = {
            "team": filters.team,
            "env": filters.env,
            "days": filters.days,
            "series": series(scope, filters.days),
        }
        return Response(FleetTrendSerializer(data).data)


@allow(Perm.VIEW)
class TeamTrends(ApiMixin, APIView):
    @extend_schema(
        tags=["trends"],
        parameters=[DAYS],
        responses=TeamTrendsSerializer,
        description="One fleet-score series per team the caller sees (the hosts' team "
        "label), teams in name order.",
    )
    def get(self, request: Request) -> Response:
        filters = TrendFilters.from_query(request.query_params)
        teams = label_values("team", Scope.within(self.access.scope))
        data = {
            "days": filters.days,
            "teams": [
                {
                    "team": team,
                    "series": series(Scope.within(self.access.scope, team), filters.days),
                }
                for team in teams
            ],
        }
        return Response(TeamTrendsSerializer(data).data)
