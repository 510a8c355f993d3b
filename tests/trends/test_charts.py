"""SVG charts are well-formed, script-free and escape what they are given; PNGs decode."""

from __future__ import annotations

import struct
import zlib
from xml.etree import ElementTree

from trends import charts, png

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert(1)</script>&"'


def parse(chart: charts.Chart) -> ElementTree.Element:
    return ElementTree.fromstring(str(chart.svg))


def test_line_chart_is_well_formed_accessible_and_breaks_on_gaps():
    chart = charts.line_chart(
        "c1",
        HOSTILE,
        HOSTILE,
        ["a", HOSTILE, "c", "d", "e"],
        [charts.Series(HOSTILE, [10, 20, None, 40, 50])],
        y_max=100,
    )

    root = parse(chart)

    assert "<script" not in str(chart.svg)
    assert " style=" not in str(chart.svg)
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == HOSTILE
    assert root.find(f"{SVG}desc").text == HOSTILE
    assert len(root.findall(f"{SVG}polyline")) == 2  # the None splits the line in two
    assert chart.rows[2] == ("c", ["–"])


def test_isolated_point_is_a_dot_and_empty_chart_renders():
    chart = charts.line_chart(
        "c2", "t", "d", ["a", "b", "c"], [charts.Series("s", [None, 5, None])]
    )
    empty = charts.line_chart("c3", "t", "d", [], [charts.Series("s", [])])

    circles = parse(chart).findall(f"{SVG}circle")
    # The dot, and the transparent hover target that carries its value.
    assert [c.get("class") for c in circles] == ["series-0", "point"]
    assert circles[1].find(f"{SVG}title").text == "b · s: 5"
    assert parse(empty).find(f"{SVG}title").text == "t"


def test_bar_chart_draws_one_bar_per_non_zero_value():
    chart = charts.bar_chart(
        "b1",
        "t",
        "d",
        ["w1", "w2"],
        [charts.Series("opened", [3, 0]), charts.Series("resolved", [1, 7])],
    )

    root = parse(chart)

    assert len(root.findall(f"{SVG}rect")) == 3
    assert chart.legend == [("swatch-0", "opened"), ("swatch-1", "resolved")]
    assert chart.rows == [("w1", ["3", "1"]), ("w2", ["0", "7"])]


def decode(data: bytes) -> tuple[int, int, bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return size[0], size[1], zlib.decompress(idat)


def test_png_charts_decode_with_the_right_size_and_some_ink():
    for data in (png.line_png([10, None, 50, 90]), png.bar_png([1, 0, 4])):
        width, height, raw = decode(data)

        assert (width, height) == (560, 180)
        assert len(raw) == height * (1 + width * 3)
        assert raw.count(b"\x28\x57\xd6") > 0 or raw.count(b"\xc6\x28\x28") > 0


def test_opened_is_red_resolved_green_and_every_bar_says_its_value():
    chart = charts.bar_chart(
        "flow",
        "t",
        "d",
        ["w1"],
        [
            charts.Series("Opened", [3], tone="bad"),
            charts.Series("Resolved", [2], tone="good"),
        ],
    )

    bars = parse(chart).findall(f"{SVG}rect")
    assert [(b.get("class"), b.get("fill")) for b in bars] == [
        ("bar tone-bad", "#c62828"),
        ("bar tone-good", "#1f8a4c"),
    ]
    assert [b.find(f"{SVG}title").text for b in bars] == ["w1 · Opened: 3", "w1 · Resolved: 2"]
    assert chart.legend == [("tone-bad", "Opened"), ("tone-good", "Resolved")]


def test_every_point_of_a_line_has_a_title_with_its_value():
    chart = charts.line_chart(
        "s", "t", "d", ["1 Nov", "2 Nov", "3 Nov"], [charts.Series("Score", [70, None, 72.5])]
    )

    titles = [
        c.find(f"{SVG}title").text for c in parse(chart).findall(f"{SVG}circle[@class='point']")
    ]
    assert titles == ["1 Nov · Score: 70", "3 Nov · Score: 72.5"]
