"""Server-side SVG charts: a line chart and a grouped bar chart, no script, no inline style.

Colours are SVG presentation attributes (allowed by the CSP, unlike style="...") and are
overridden by classes in static/trends.css. Every chart carries <title> and <desc>, and
`Chart.rows` feeds the visually hidden data table that templates/trends/chart.html renders
beside it, so a screen reader gets the numbers, not a picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils import formats
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

PALETTE = ("#2857d6", "#c62828", "#1f8a4c", "#b26a00", "#6a3fb5", "#00838f")
WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 30


# Tones for series whose meaning has a colour (opened: bad, resolved: good), the same as
# the swatches in static/trends.css; the legend and the point titles name them in words.
TONES = {"bad": "#c62828", "good": "#1f8a4c"}


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    tone: str = ""  # "", "bad" or "good"

    def colour(self, index: int) -> str:
        return TONES.get(self.tone) or PALETTE[index % len(PALETTE)]

    def css(self, index: int) -> str:
        return f"tone-{self.tone}" if self.tone else f"series-{index}"


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    svg: SafeString
    labels: Sequence[str]
    series: Sequence[Series]
    unit: str = ""

    @property
    def rows(self) -> list[tuple[str, list[str]]]:
        return [
            (label, ["–" if s.values[i] is None else _fmt(s.values[i]) for s in self.series])
            for i, label in enumerate(self.labels)
        ]

    @property
    def legend(self) -> list[tuple[str, str]]:
        """(swatch class, name) per series."""
        return [(s.css(i).replace("series-", "swatch-"), s.name) for i, s in enumerate(self.series)]


def _fmt(value: float | None) -> str:
    """A value as the reader writes numbers: "70.7" in English, "70,7" in French."""
    if value is None:
        return "–"
    return formats.number_format(value, 0 if float(value).is_integer() else 1)


def _point_title(label: str, series: Series, value: float) -> str:
    """What hovering a point or bar shows (an SVG <title>, no script): day, series, value,
    in the reader's language ("30 nov · Score du parc : 70,7")."""
    text = _("%(day)s · %(series)s: %(value)s") % {
        "day": label,
        "series": series.name,
        "value": _fmt(value),
    }
    return f"<title>{escape(text)}</title>"


def _scale(values: Sequence[Sequence[float | None]], y_max: float | None) -> float:
    top = max((v for vs in values for v in vs if v is not None), default=0.0)
    if y_max is not None:
        return y_max
    # Round up to a "nice" multiple of 4: the four gridlines then fall on whole numbers
    # (counts of findings or hosts are never 2.5).
    for nice in (4, 8, 12, 20, 40, 60, 80, 100, 200, 400, 600, 800, 1000, 2000, 4000, 10000):
        if top <= nice:
            return float(nice)
    return float(-(-top // 4000) * 4000)


def _frame(
    chart_id: str, title: str, desc: str, top: float, labels: Sequence[str], bars: bool
) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{chart_id}-t {chart_id}-d">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
    ]
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e2e5eb" stroke-width="1"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="#6b7385">{escape(_fmt(top * i / 4))}</text>'
        )
    n = len(labels)
    shown = set(range(0, n, max(1, (n + 5) // 6))) | ({n - 1} if n else set())
    for i in sorted(shown):
        x = _x(i, n, bars)
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="middle" '
            f'font-size="11" fill="#6b7385">{escape(labels[i])}</text>'
        )
    return parts


def _x(i: int, n: int, bars: bool) -> float:
    plot_w = WIDTH - LEFT - RIGHT
    if bars or n <= 1:
        return LEFT + plot_w * (i + 0.5) / max(n, 1)
    return LEFT + plot_w * i / (n - 1)


def _y(value: float, top: float) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h - plot_h * (value / top if top else 0)


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    y_max: float | None = None,
) -> Chart:
    """One polyline per series; a None value breaks the line rather than inventing data."""
    top = _scale([s.values for s in series], y_max)
    parts = _frame(chart_id, title, desc, top, labels, bars=False)
    n = len(labels)
    hovers: list[str] = []
    for index, s in enumerate(series):
        colour, css = s.colour(index), s.css(index)
        runs: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(s.values):
            if value is None:
                runs.append([])
                continue
            x, y = _x(i, n, bars=False), _y(min(value, top), top)
            runs[-1].append((x, y))
            # A transparent target per point, drawn last so lines never cover it: fill
            # "transparent" still takes the pointer where "none" would not.
            hovers.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="6" fill="transparent">'
                f"{_point_title(labels[i], s, value)}</circle>"
            )
        for run in runs:
            if len(run) == 1:
                (x, y) = run[0]
                parts.append(
                    f'<circle class="{css}" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>'
                )
            elif run:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(
                    f'<polyline class="line {css}" points="{points}" fill="none" '
                    f'stroke="{colour}" stroke-width="2"/>'
                )
    parts.extend(hovers)
    parts.append("</svg>")
    return Chart(chart_id, title, mark_safe("".join(parts)), labels, series)  # noqa: S308


def bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    y_max: float | None = None,
) -> Chart:
    """Grouped bars: one group per label, one bar per series."""
    top = _scale([s.values for s in series], y_max)
    parts = _frame(chart_id, title, desc, top, labels, bars=True)
    n, k = len(labels), max(len(series), 1)
    group_w = (WIDTH - LEFT - RIGHT) / max(n, 1) * 0.8
    bar_w = group_w / k
    for index, s in enumerate(series):
        colour, css = s.colour(index), s.css(index)
        for i, value in enumerate(s.values):
            if not value:
                continue
            x = _x(i, n, bars=True) - group_w / 2 + index * bar_w
            y = _y(min(value, top), top)
            parts.append(
                f'<rect class="bar {css}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{max(bar_w - 1, 1):.1f}" height="{HEIGHT - BOTTOM - y:.1f}" '
                f'fill="{colour}">{_point_title(labels[i], s, value)}</rect>'
            )
    parts.append("</svg>")
    return Chart(chart_id, title, mark_safe("".join(parts)), labels, series)  # noqa: S308
