"""Just enough of the PO format to check a catalogue: entries, flags and plural forms.

polib would do, but it is not a dependency; GNU gettext's output is regular enough that
fifty lines read it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")$')


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False

    @property
    def key(self) -> str:
        """The key gettext looks the entry up by (context, then EOT, then msgid)."""
        return f"{self.msgctxt}\x04{self.msgid}" if self.msgctxt is not None else self.msgid


def parse(path: Path) -> list[Entry]:
    entries: list[Entry] = []
    entry = Entry()
    target: tuple[str, int] | None = None
    started = False

    def finish() -> None:
        nonlocal entry, target, started
        if started:
            entries.append(entry)
        entry, target, started = Entry(), None, False

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#~"):
            entry.obsolete = True
            line = line[2:].strip()
        if not line:
            finish()
            continue
        if line.startswith("#,"):
            if started:
                finish()
            entry.flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith("#"):
            continue
        match = KEYWORD.match(line)
        if match:
            keyword, index, literal = match.groups()
            if keyword in ("msgid", "msgctxt") and target and target[0] == "msgstr":
                finish()  # an entry not separated from the previous one by a blank line
            started = True
            target = ("msgstr", int(index or 0)) if keyword.startswith("msgstr") else (keyword, 0)
            text = ""
        elif line.startswith('"') and target:
            literal = line
            text = _get(entry, target)
        else:
            raise ValueError(f"{path}: cannot read {raw!r}")
        assert target is not None
        _set(entry, target, text + ast.literal_eval(literal))
    finish()
    return entries


def _get(entry: Entry, target: tuple[str, int]) -> str:
    name, index = target
    if name == "msgstr":
        return entry.msgstr.get(index, "")
    return getattr(entry, name) or ""


def _set(entry: Entry, target: tuple[str, int], value: str) -> None:
    name, index = target
    if name == "msgstr":
        entry.msgstr[index] = value
    else:
        setattr(entry, name, value)
