"""The audit trail as one list: explicit events (AuditEvent) and model changes (auditlog's
LogEntry), newest first, filtered, paged by keyset on time.

Keyset, not page numbers: the trail grows at its head while someone reads it, and an
offset would shift every page by the rows written meanwhile (and cost a count of two big
tables). Rows are ordered by (time, kind, id) descending, events before changes at the
same instant; the cursor is the key of the last row shown.
"""

from __future__ import annotations

import datetime
import heapq
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from audit.filters import TrailFilters
from audit.models import AuditEvent

PAGE = 50
EVENT, CHANGE = "e", "c"
# At the same instant, events sort before changes (descending): their rank is higher.
RANK = {EVENT: 1, CHANGE: 0}
VERBS = {
    LogEntry.Action.CREATE: "create",
    LogEntry.Action.UPDATE: "update",
    LogEntry.Action.DELETE: "delete",
    LogEntry.Action.ACCESS: "access",
}


@dataclass(frozen=True)
class Cursor:
    at: datetime.datetime
    kind: str
    id: int

    def __str__(self) -> str:
        return f"{self.at.isoformat()}|{self.kind}{self.id}"

    @classmethod
    def parse(cls, value: str) -> Cursor | None:
        """None for anything malformed: the first page, as for any bad filter value."""
        stamp, _, key = value.partition("|")
        try:
            at = datetime.datetime.fromisoformat(stamp)
            kind, number = key[:1], int(key[1:])
        except ValueError:
            return None
        if at.tzinfo is None or kind not in RANK:
            return None
        return cls(at, kind, number)


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any

    # What the page shows; the export keeps the values themselves.
    @property
    def before_text(self) -> str:
        return _text(self.before)

    @property
    def after_text(self) -> str:
        return _text(self.after)


SHOWN = 160  # a PEM certificate in full would fill the screen: its start tells which


def _text(value: Any) -> str:
    if value is None:
        return "∅"
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


@dataclass(frozen=True)
class Row:
    kind: str  # EVENT or CHANGE
    id: int
    at: datetime.datetime
    actor: str  # the account's name, "" when no person acted
    source: str  # web, cli, worker, beat… (for changes: web when made in a request)
    address: str
    action: str  # "host.updated" for an event; "host.update" for a model change
    target_type: str
    target_id: str
    target_repr: str
    changes: tuple[Change, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def detail_texts(self) -> list[tuple[str, str]]:
        return [(key, _text(value)) for key, value in self.details.items()]

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.at, self.kind, self.id)

    @property
    def sort_key(self) -> tuple[datetime.datetime, int, int]:
        return (self.at, RANK[self.kind], self.id)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": "event" if self.kind == EVENT else "change",
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "source": self.source,
            "address": self.address,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "target": self.target_repr,
            "changes": {c.field: [c.before, c.after] for c in self.changes},
            "details": self.details,
        }


@dataclass(frozen=True)
class TrailPage:
    rows: list[Row]
    next_cursor: Cursor | None


def page(filters: TrailFilters, size: int | None = None) -> TrailPage:
    """One page of the merged trail after `filters.before`."""
    size = size or PAGE
    after = Cursor.parse(filters.before) if filters.before else None
    events = [_event_row(e) for e in _events(filters, after)[: size + 1]]
    changes = [_change_row(c) for c in _changes(filters, after)[: size + 1]]
    merged = list(heapq.merge(events, changes, key=lambda r: r.sort_key, reverse=True))
    rows = merged[:size]
    more = len(merged) > size
    return TrailPage(rows, rows[-1].cursor if more and rows else None)


def every_row(filters: TrailFilters, batch: int = 500) -> Iterator[Row]:
    """The whole filtered trail, a page at a time (for the export: constant memory)."""
    while True:
        current = page(filters, batch)
        yield from current.rows
        if current.next_cursor is None:
            return
        filters = TrailFilters(**{**filters.__dict__, "before": str(current.next_cursor)})


def _events(filters: TrailFilters, after: Cursor | None) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.order_by("-at", "-id")
    if after is not None:
        keyset = Q(at__lt=after.at)
        if after.kind == EVENT:
            keyset |= Q(at=after.at, id__lt=after.id)
        qs = qs.filter(keyset)
    if filters.actor:
        qs = qs.filter(actor_name__iexact=filters.actor)
    if filters.action:
        qs = qs.filter(action__startswith=filters.action)
    if filters.target_type:
        qs = qs.filter(target_type=filters.target_type)
    if filters.target_id:
        qs = qs.filter(target_id=filters.target_id)
    if filters.address:
        qs = qs.filter(address=filters.address)
    if (since := filters.since()) is not None:
        qs = qs.filter(at__gte=since)
    if (until := filters.until()) is not None:
        qs = qs.filter(at__lt=until)
    return qs


def _changes(filters: TrailFilters, after: Cursor | None) -> QuerySet[LogEntry]:
    qs = LogEntry.objects.select_related("content_type", "actor").order_by("-timestamp", "-id")
    if after is not None:
        # Changes rank below events at the same instant: after an event, all of that
        # instant's changes are still to come; after a change, only the lower ids.
        same = Q(timestamp=after.at)
        if after.kind == CHANGE:
            same &= Q(id__lt=after.id)
        qs = qs.filter(Q(timestamp__lt=after.at) | same)
    if filters.actor:
        username = {f"actor__{get_user_model().USERNAME_FIELD}__iexact": filters.actor}
        qs = qs.filter(Q(**username) | Q(additional_data__actor__iexact=filters.actor))
    if filters.action:
        qs = qs.filter(_action_q(filters.action))
    if filters.target_type:
        qs = qs.filter(content_type__model=filters.target_type)
    if filters.target_id:
        qs = qs.filter(object_pk=filters.target_id)
    if filters.address:
        qs = qs.filter(remote_addr=filters.address)
    if (since := filters.since()) is not None:
        qs = qs.filter(timestamp__gte=since)
    if (until := filters.until()) is not None:
        qs = qs.filter(timestamp__lt=until)
    return qs


def _action_q(prefix: str) -> Q:
    """A change's action is "<model>.<verb>" (host.update): the prefix matched on both."""
    model, dot, verb = prefix.partition(".")
    if not dot:
        return Q(content_type__model__startswith=model)
    verbs = [number for number, name in VERBS.items() if name.startswith(verb)]
    return Q(content_type__model=model, action__in=verbs)


def _event_row(event: AuditEvent) -> Row:
    return Row(
        kind=EVENT,
        id=event.pk,
        at=event.at,
        actor=event.actor_name,
        source=event.source,
        address=event.address or "",
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        target_repr=event.target_repr,
        changes=tuple(Change(k, *_pair(v)) for k, v in sorted(event.changes.items())),
        details=dict(event.details),
    )


def _change_row(entry: LogEntry) -> Row:
    extra = entry.additional_data if isinstance(entry.additional_data, dict) else {}
    actor = entry.actor.get_username() if entry.actor is not None else ""
    actor = actor or str(extra.get("actor") or "") or (entry.actor_email or "")
    model = entry.content_type.model
    return Row(
        kind=CHANGE,
        id=entry.pk,
        at=entry.timestamp,
        actor=actor,
        # A change made in a request carries its address; others came from the command
        # line, a worker or a migration.
        source="web" if entry.remote_addr or actor else "system",
        address=entry.remote_addr or "",
        action=f"{model}.{VERBS.get(entry.action, str(entry.action))}",
        target_type=model,
        target_id=entry.object_pk,
        target_repr=entry.object_repr,
        changes=tuple(_log_changes(entry.changes)),
    )


def _log_changes(changes: Any) -> Iterator[Change]:
    if not isinstance(changes, dict):
        return
    for name, value in sorted(changes.items()):
        if isinstance(value, dict) and value.get("type") == "m2m":
            objects = ", ".join(str(o) for o in value.get("objects", []))
            if value.get("operation") == "delete":
                yield Change(name, objects, "")
            else:
                yield Change(name, "", objects)
        else:
            yield Change(name, *_pair(value))


def _pair(value: Any) -> tuple[Any, Any]:
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    return None, value
