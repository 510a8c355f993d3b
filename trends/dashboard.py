"""The trends page: its queries run and its charts drawn, ready for the template."""

from __future__ import annotations

import hashlib
import json
from dataclasses import astuple, dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from access.scope import Scope as AccessScope
from findings import vocabulary
from posture.lib.dates import local_date
from rules import REGISTRY
from trends import charts, queries
from trends.filters import RANGES, TrendFilters
from trends.scope import Scope, day_start, label_values
from vulns import history

PASS_RATE_RULES = 5


def short_day(day: Any) -> str:
    # A format string per language: "Nov 30" in English, "30 nov" in French.
    return local_date(day, pgettext("a day on a chart's axis, as a Django date format", "M j"))


def rule_title(rule_id: str) -> str:
    return vocabulary.rule_title(REGISTRY.get(rule_id), rule_id)


@dataclass(frozen=True)
class RuleChoice:
    rule_id: str
    title: str
    hosts: int
    url: str


def trends_context(filters: TrendFilters, access: AccessScope | None = None) -> dict[str, Any]:
    """The page's figures for `filters`, within what `access` sees (default: everything)."""
    access = access or AccessScope.everything()
    scope = Scope.within(access, filters.team, filters.env)
    visible = Scope.within(access)
    today = timezone.localdate()
    first = today - timedelta(days=filters.days - 1)
    series = queries.fleet_series(scope, first, today)
    current = next((p for p in reversed(series) if p.mean is not None), None)
    failing = queries.failing_now(scope, limit=10)
    choices = [
        RuleChoice(
            r["rule_id"],
            rule_title(r["rule_id"]),
            r["hosts"],
            filters.query_string(rule=r["rule_id"]),
        )
        for r in failing
    ]
    rules = [filters.rule] if filters.rule else [c.rule_id for c in choices[:PASS_RATE_RULES]]
    rates = queries.rule_pass_rates(scope, rules, series)
    flow = queries.findings_flow(scope, first, today)
    labels = [short_day(p.day) for p in series]
    score_chart = charts.line_chart(
        "score",
        _("Fleet score over time"),
        _("Daily mean of each host's last score of the day, from %(first)s to %(last)s.")
        % {"first": local_date(first), "last": local_date(today)},
        labels,
        [charts.Series(_("Fleet score"), [p.mean for p in series])],
        y_max=100,
    )
    rate_days = next(iter(rates.values()), [])
    pass_chart = charts.line_chart(
        "pass-rate",
        _("Pass rate by rule"),
        _("Share of scanned hosts not failing each rule, at the end of every seventh day."),
        [short_day(day) for day, _rate in rate_days],
        [
            charts.Series(rule, [None if r is None else 100 * r for _day, r in line])
            for rule, line in rates.items()
        ],
        y_max=100,
    )
    flow_chart = charts.bar_chart(
        "flow",
        _("Findings opened and resolved per week"),
        _("Number of findings opened and resolved in each week starting on the date shown."),
        [short_day(w.week) for w in flow],
        [
            charts.Series(_("Opened"), [w.opened for w in flow], tone="bad"),
            charts.Series(_("Resolved"), [w.resolved for w in flow], tone="good"),
        ],
    )
    return {
        "filters": filters,
        "ranges": RANGES,
        "teams": label_values("team", visible),
        "envs": label_values("env", visible),
        "refused_team": filters.team if scope.refused else "",
        "current": current,
        "comparisons": queries.comparisons(scope, current),
        "score_chart": score_chart,
        "pass_chart": pass_chart,
        "flow_chart": flow_chart,
        "rule_choices": choices,
        "all_rules_url": filters.query_string(rule=""),
        "mttr": queries.mttr(scope, first, today),
        "vuln_figures": history.figures(
            None if scope.whole_fleet else scope.hosts(), since=day_start(first)
        ),
        "criticals": queries.oldest_criticals(scope),
        "first": first,
        "as_of": timezone.now(),
    }


def cached_trends_context(
    filters: TrendFilters, access: AccessScope | None = None
) -> dict[str, Any]:
    """trends_context, kept POSTURE_TRENDS_CACHE_SECONDS per account scope, filters,
    language and day: two accounts that see different teams never share figures.
    Its figures are per day and rolled up hourly, yet computing them is most of the page's
    time (~50 ms of SQL at 1,000 hosts): under a team's load, the same few views are asked
    for again and again. The page says "as of" when the figures were computed."""
    seconds = settings.POSTURE_TRENDS_CACHE_SECONDS
    access = access or AccessScope.everything()
    if seconds <= 0:
        return trends_context(filters, access)
    # Hashed: team and env come from the URL (any text, up to 255 characters each).
    raw = json.dumps(
        [translation.get_language(), timezone.localdate().isoformat(), *astuple(filters)]
    )
    key = f"trends:{access.key}:" + hashlib.sha256(raw.encode()).hexdigest()
    context: dict[str, Any] | None = cache.get(key)
    if context is None:
        context = trends_context(filters, access)
        cache.set(key, context, seconds)
    return context
