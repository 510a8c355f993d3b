"""Dates in words follow the language, and French writes the first of the month "1er"."""

from __future__ import annotations

from datetime import date

from django.template import Context, Template
from django.utils import translation

from posture.lib.dates import local_date


def test_french_writes_the_first_of_the_month_as_an_ordinal_and_only_the_first():
    with translation.override("fr"):
        assert local_date(date(2026, 11, 1)) == "1er novembre 2026"
        assert local_date(date(2026, 11, 1), "MONTH_DAY_FORMAT") == "1er novembre"
        assert local_date(date(2026, 11, 2), "MONTH_DAY_FORMAT") == "2 novembre"
        assert local_date(date(2026, 11, 11)) == "11 novembre 2026"
        assert local_date(date(2026, 11, 1), "YEAR_MONTH_FORMAT") == "novembre 2026"
        assert local_date(date(2026, 11, 1), "j b") == "1er nov"


def test_english_is_django_s_own_format():
    with translation.override("en"):
        assert local_date(date(2026, 11, 1)) == "Nov. 1, 2026"
        assert local_date(date(2026, 11, 1), "MONTH_DAY_FORMAT") == "November 1"


def test_the_template_filter():
    template = Template(
        '{% load dates %}{{ day|local_date:"MONTH_DAY_FORMAT" }}|{{ none|local_date }}'
    )
    with translation.override("fr"):
        assert template.render(Context({"day": date(2026, 12, 1), "none": None})) == "1er décembre|"
