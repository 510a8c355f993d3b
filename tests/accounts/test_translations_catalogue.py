"""The French catalogue: complete, fully translated, and compiled from its current text."""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.accounts.po import Entry, parse

LOCALE = Path(settings.BASE_DIR) / "locale"
PO = LOCALE / "fr" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
# The same arguments the documented update command uses (docs/ARCHITECTURE.md, Languages).
MAKEMESSAGES = ["makemessages", "-l", "fr", "--no-obsolete"] + [
    f"--ignore={d}" for d in (".venv", "var", "tests", "bench")
]


def entries() -> list[Entry]:
    return [e for e in parse(PO) if e.msgid]


def test_every_message_is_translated_and_none_is_fuzzy():
    untranslated = [e.msgid for e in entries() if not all(e.msgstr.values())]
    fuzzy = [e.msgid for e in entries() if "fuzzy" in e.flags]
    obsolete = [e.msgid for e in entries() if e.obsolete]
    plural_gaps = [e.msgid for e in entries() if e.msgid_plural and sorted(e.msgstr) != [0, 1]]

    assert untranslated == []
    assert fuzzy == []
    assert obsolete == []
    assert plural_gaps == []  # French has two forms: Plural-Forms nplurals=2
    assert "fuzzy" not in parse(PO)[0].flags  # a fuzzy header makes gettext ignore the file


def test_placeholders_survive_translation():
    for e in entries():
        if "python-format" not in e.flags:
            continue
        wanted = set(re.findall(r"%\((\w+)\)s", e.msgid_plural or e.msgid))
        for text in e.msgstr.values():
            assert set(re.findall(r"%\((\w+)\)s", text)) <= wanted, e.msgid
            assert text.count("%%") == e.msgid.count("%%"), e.msgid


def test_compiled_catalogue_matches_its_source():
    """GIVEN the committed .mo WHEN read by the stdlib's gettext THEN it holds exactly the
    .po's translations: a .po edited without compilemessages fails here."""
    with MO.open("rb") as f:
        compiled = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]

    expected: dict[object, str] = {}
    for e in entries():
        if e.msgid_plural is None:
            expected[e.key] = e.msgstr[0]
        else:
            expected.update({(e.key, i): text for i, text in e.msgstr.items()})
    compiled = {k: v for k, v in compiled.items() if k != ""}  # the header

    assert compiled == expected


def test_template_strings_are_all_in_the_catalogue():
    """Cheap completeness check, no GNU gettext needed: every literal {% translate %} in a
    template is a msgid."""
    msgids = {e.msgid for e in entries()}
    tag = re.compile(r"""\{%\s*(?:translate|trans)\s+(?:"([^"]*)"|'([^']*)')""")
    missing = []
    base = Path(settings.BASE_DIR)
    for root in [base / "templates", *base.glob("*/templates")]:
        for path in root.rglob("*"):
            if path.suffix not in (".html", ".txt"):
                continue
            for m in tag.finditer(path.read_text(encoding="utf-8")):
                text = m.group(1) if m.group(1) is not None else m.group(2)
                if text not in msgids:
                    missing.append(f"{path.relative_to(settings.BASE_DIR)}: {text}")
    assert missing == []


@pytest.mark.skipif(not shutil.which("xgettext"), reason="GNU gettext is not installed")
def test_makemessages_would_add_nothing(tmp_path: Path):
    """GIVEN a copy of the sources with an empty locale directory WHEN makemessages runs
    there THEN it finds exactly the msgids of the committed catalogue."""
    src = tmp_path / "src"
    shutil.copytree(
        settings.BASE_DIR,
        src,
        ignore=shutil.ignore_patterns(
            ".*", "var", "tests", "bench", "locale", "static", "docs", "__pycache__", "*.pyc"
        ),
    )
    (src / "locale").mkdir()
    # The copy's own settings put LOCALE_PATHS inside the copy, so the real .po is untouched.
    subprocess.run(
        [sys.executable, "manage.py", *MAKEMESSAGES],
        cwd=src,
        check=True,
        capture_output=True,
        timeout=120,
    )
    fresh = {e.key for e in parse(src / "locale" / "fr" / "LC_MESSAGES" / "django.po") if e.msgid}
    committed = {e.key for e in entries()}

    assert sorted(fresh - committed) == [], "new strings: run makemessages and translate them"
    assert sorted(committed - fresh) == [], "strings gone from the code: run makemessages"
