"""Reading and writing inventory files (YAML and CSV): shapes only, no database.

Every entry becomes a flat dict of the inventory's own keys (KEYS below), with where it was
found ("line 12") for messages. YAML nests the TLS material (`tls: {ca, cert, key}`) and the
SSH access of a tcp:// host (`ssh_access: {address, host_key, key}`); CSV has one column per
flat key. What the values mean — references, defaults, validation — is hosts.inventory's.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import yaml
from django.utils.translation import gettext as _

# Flat keys, in the order CSV columns and YAML entries are written.
PLAIN = ("name", "endpoint", "labels", "owner", "interval", "enabled", "image_scan")
MATERIAL = (
    "tls_ca",
    "tls_cert",
    "tls_key",
    "ssh_key",
    "host_key",
    "ssh_access",
    "ssh_access_host_key",
    "ssh_access_key",
)
KEYS = PLAIN + MATERIAL
# YAML's nested spelling of the flat keys.
NESTED = {
    "tls": {"ca": "tls_ca", "cert": "tls_cert", "key": "tls_key"},
    "ssh_access": {
        "address": "ssh_access",
        "host_key": "ssh_access_host_key",
        "key": "ssh_access_key",
    },
}
# An inventory is a list of hosts: a few hundred kilobytes for thousands. A cap keeps a
# mistaken upload (a disk image, a log) from being parsed at all.
MAX_BYTES = 4 * 1024 * 1024
MAX_ENTRIES = 5000


class InventoryError(ValueError):
    """The file as a whole cannot be read; `messages` says why, one per problem."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass
class RawEntry:
    where: str  # "line 12" (YAML: the entry's first line; CSV: its row)
    values: dict[str, Any]
    problems: list[str]


def detect_format(name: str = "", content_type: str = "") -> str:
    lowered = (name or "").lower()
    if lowered.endswith(".csv") or "csv" in (content_type or ""):
        return "csv"
    return "yaml"  # JSON is YAML too


def parse(text: str | bytes, fmt: str) -> list[RawEntry]:
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise InventoryError([_("The inventory is larger than 4 MiB.")])
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InventoryError([_("The inventory is not UTF-8 text.")]) from None
    if len(text) > MAX_BYTES:
        raise InventoryError([_("The inventory is larger than 4 MiB.")])
    entries = parse_csv(text) if fmt == "csv" else parse_yaml(text)
    if len(entries) > MAX_ENTRIES:
        raise InventoryError([_("At most %(max)s hosts per inventory.") % {"max": MAX_ENTRIES}])
    return entries


def parse_yaml(text: str) -> list[RawEntry]:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        # Anchors and aliases are refused: a few lines of them expand to millions of nodes
        # for whoever walks the result. An alias is a node met twice.
        if root is not None and _shared(root):
            raise InventoryError([_("YAML anchors and aliases are not accepted in an inventory.")])
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = _("line %(line)s: ") % {"line": mark.line + 1} if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InventoryError(
            [
                _("%(where)sthis is not valid YAML (%(problem)s).")
                % {"where": where, "problem": problem}
            ]
        ) from None
    finally:
        loader.dispose()
    if data is None:
        return []
    items, nodes = data, root
    if isinstance(data, dict):
        if set(data) != {"hosts"}:
            raise InventoryError(
                [_("An inventory is a list of hosts, or a mapping with one key: hosts.")]
            )
        items = data["hosts"] or []
        nodes = next((v for k, v in root.value if k.value == "hosts"), None)  # type: ignore[union-attr]
    if not isinstance(items, list):
        raise InventoryError([_("“hosts” must be a list of hosts.")])
    lines = [n.start_mark.line + 1 for n in getattr(nodes, "value", [])] or [0] * len(items)
    return [_yaml_entry(item, line) for item, line in zip(items, lines, strict=False)]


# libyaml's parser when PyYAML was built with it (Debian's and the wheels are): 10× faster.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _shared(root: yaml.Node) -> bool:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return True
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in node.value for n in pair)
    return False


def _yaml_entry(item: Any, line: int) -> RawEntry:
    where = _("line %(line)s") % {"line": line}
    entry = RawEntry(where, {}, [])
    if not isinstance(item, dict):
        entry.problems.append(_("each host is a mapping (name: …, endpoint: …)."))
        return entry
    for key, value in item.items():
        if key in NESTED and isinstance(value, dict):
            for sub, subvalue in value.items():
                flat = NESTED[key].get(str(sub))
                if flat is None:
                    entry.problems.append(_("unknown key %(key)s.") % {"key": f"{key}.{sub}"})
                else:
                    entry.values[flat] = subvalue
        elif key in NESTED and key != "ssh_access" and value is not None:
            entry.problems.append(_("%(key)s must be a mapping.") % {"key": key})
        elif key in KEYS:
            entry.values[key] = value
        elif key != "tls":
            entry.problems.append(_("unknown key %(key)s.") % {"key": str(key)[:40]})
    return entry


def parse_csv(text: str) -> list[RawEntry]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
        unknown = [h for h in header if h not in KEYS]
        if unknown or "name" not in header:
            raise InventoryError(
                [
                    _("CSV header: columns are %(keys)s (unknown: %(unknown)s).")
                    % {"keys": ", ".join(KEYS), "unknown": ", ".join(unknown) or "—"}
                ]
            )
        entries = []
        start = reader.line_num + 1
        for row in reader:
            values = {k: v for k, v in row.items() if k in KEYS and v not in (None, "")}
            entry = RawEntry(_("line %(line)s") % {"line": start}, values, [])
            if None in row:
                entry.problems.append(_("more cells than columns."))
            entries.append(entry)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InventoryError(
            [
                _("line %(line)s: this is not valid CSV (%(error)s).")
                % {"line": reader.line_num, "error": exc}
            ]
        ) from None
    return entries


class _Dumper(yaml.SafeDumper):
    """PEM blocks as literal blocks (|), readable and diffable in a repository."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)

EXPORT_HEADER = """\
# Posture inventory ({count} hosts). Import with: python manage.py host import FILE
# Private keys are never exported. A host listed without one keeps its stored key; to give
# or replace one, add a reference: tls: {{key: file:/path/key.pem}}, ssh_key: env:NAME,
# ssh_access: {{key: file:/path}} (never the key itself).
"""


def dump_yaml(entries: list[dict[str, Any]]) -> str:
    hosts = []
    for values in entries:
        item: dict[str, Any] = {k: values[k] for k in KEYS if k in values and not _nested(k)}
        for key, subs in NESTED.items():
            nested = {sub: values[flat] for sub, flat in subs.items() if values.get(flat)}
            if nested:
                item[key] = nested
        hosts.append(item)
    body = yaml.dump({"hosts": hosts}, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    return EXPORT_HEADER.format(count=len(entries)) + body


def _nested(key: str) -> bool:
    return any(key in subs.values() for subs in NESTED.values())


def dump_csv(entries: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=KEYS, lineterminator="\n")
    writer.writeheader()
    for values in entries:
        writer.writerow({k: _cell(values.get(k)) for k in KEYS})
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)
