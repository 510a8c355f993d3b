"""A journey in each of the interface's languages (issue 17). The words a test looks for come
from the real catalogue, never written out in French: a translation reworded does not break
a journey, and a string left untranslated still shows (the French run then finds the
English text, as a French reader would)."""

from __future__ import annotations

import re

import pytest
from django.utils.translation import gettext, ngettext, override

# `@BOTH` on a journey runs it once per language; the account's language chooses it.
BOTH = pytest.mark.parametrize("lang", ["en", "fr"])


def tr(lang: str, message: str, **values: object) -> str:
    """`message` as the catalogue gives it in `lang`, with its values put in."""
    with override(lang):
        text = gettext(message)
    return text % values if values else text


def ntr(lang: str, singular: str, plural: str, n: int, **values: object) -> str:
    """The plural form of `lang` for `n`, with `n` among its values."""
    with override(lang):
        text = ngettext(singular, plural, n)
    return text % {"n": n, **values}


def pattern(lang: str, message: str, **parts: str) -> re.Pattern[str]:
    """A regex of `message` in `lang`, each named part a regex where its value goes: for a
    sentence whose dates or scores the test does not know."""
    holes = {name: f"\x00{name}\x00" for name in parts}
    text = re.escape(tr(lang, message, **holes))
    for name, regex in parts.items():
        text = text.replace(re.escape(holes[name]), regex)
    return re.compile(text)
