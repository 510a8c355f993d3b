"""Dates in words, in the interface's language, with the French ordinal of the first.

Django's French formats write the first of the month "1 novembre"; French typography wants
"1er novembre" (and only for the first: "2 novembre"). Django has no format character for
it, so the day character of the resolved format is swapped for a literal "1er" that day.
"""

from __future__ import annotations

import re
from datetime import date

from django.utils import formats, translation

# An unescaped "j" (day of the month without leading zero) in a Django date format.
_DAY = re.compile(r"(?<!\\)j")


def local_date(value: date, fmt: str = "DATE_FORMAT") -> str:
    """`value` formatted with `fmt` (a format name such as "DATE_FORMAT", or a format
    string), as Django's `date` filter would, plus the French "1er"."""
    pattern = formats.get_format(fmt)
    if value.day == 1 and (translation.get_language() or "").startswith("fr"):
        pattern = _DAY.sub(r"1\\e\\r", pattern)
    return formats.date_format(value, pattern)
