"""How many open findings an exception being written would cover: the form's "matches N
findings", shown before saving so that a scope wider than meant (every container failing a
rule, where one was meant) is seen before it is asked for.

The same decision as the scan's (policy.exceptions.apply via policy.matching), over the
stored findings of the hosts the account sees: a container's image reference comes from the
inventory (the finding does not keep it), an image's from its tags. A preview, not a
promise: the next scan decides, and a request still waits for its approval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from access.scope import Scope
from findings.models import Container, Finding, Image
from hosts.models import Host
from policy import matching
from rules.base import Scope as Kind

# Past this many candidate findings the count stops: "more than 10,000" says enough.
CAP = 10_000


@dataclass(frozen=True)
class Draft:
    """The scope of an exception as typed so far (checked by the form, or not at all)."""

    rule_id: str
    host: Host | None = None
    label_key: str = ""
    label_value: str = ""
    container_pattern: str = ""
    image_pattern: str = ""


@dataclass(frozen=True)
class Preview:
    findings: int
    hosts: int
    capped: bool = False


def _image_refs(rows: list[dict[str, Any]]) -> dict[tuple[int, str], tuple[str, ...]]:
    """(host id, subject key) -> the references an image pattern is matched on."""
    containers = {
        (r["host_id"], r["subject_key"]) for r in rows if r["subject_kind"] == "container"
    }
    images = {(r["host_id"], r["subject_key"]) for r in rows if r["subject_kind"] == "image"}
    refs: dict[tuple[int, str], tuple[str, ...]] = {}
    if containers:
        hosts = {h for h, _ in containers}
        keys = {k for _, k in containers}
        seen = Container.objects.filter(host_id__in=hosts, container_id__in=keys)
        for host_id, key, ref in seen.values_list("host_id", "container_id", "image_ref"):
            refs[(host_id, key)] = (ref,) if ref else ()
    if images:
        hosts = {h for h, _ in images}
        keys = {k for _, k in images}
        held = Image.objects.filter(host_id__in=hosts, image_id__in=keys)
        for host_id, key, tags in held.values_list("host_id", "image_id", "tags"):
            refs[(host_id, key)] = tuple(t for t in tags or () if isinstance(t, str))
    return refs


def _kind(value: str) -> Kind:
    try:
        return Kind(value)
    except ValueError:  # a kind from a newer catalogue: no pattern covers it
        return Kind.DAEMON


def preview(draft: Draft, scope: Scope) -> Preview:
    """The open findings of the hosts in `scope` the draft would cover; three statements."""
    qs = scope.filter(Finding.objects.open(), prefix="host__").filter(rule_id=draft.rule_id)
    if draft.host is not None:
        qs = qs.filter(host=draft.host)
    if draft.container_pattern:
        qs = qs.filter(subject_kind=Kind.CONTAINER.value)
    if draft.image_pattern:
        qs = qs.exclude(subject_kind=Kind.DAEMON.value)
    fields = ("host_id", "host__labels", "subject_kind", "subject_key", "subject_name")
    rows = list(qs.order_by("pk").values(*fields)[: CAP + 1])
    capped = len(rows) > CAP
    rows = rows[:CAP]
    refs = _image_refs(rows) if draft.image_pattern else {}
    covered = [
        row
        for row in rows
        if matching.label_matches(row["host__labels"], draft.label_key, draft.label_value)
        and matching.subject_matches(
            kind=_kind(str(row["subject_kind"])),
            name=str(row["subject_name"]),
            image_refs=refs.get(
                (row["host_id"], row["subject_key"]),
                # As the scan does without an inventory: an image by its name.
                (str(row["subject_name"]),) if row["subject_kind"] == "image" else (),
            ),
            container_pattern=draft.container_pattern,
            image_pattern=draft.image_pattern,
        )
    ]
    return Preview(len(covered), len({row["host_id"] for row in covered}), capped)
