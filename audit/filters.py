"""The audit page's filters, read leniently from the query string like every table's
(posture.lib.filters): a malformed value is dropped, and here also named back to the reader,
since an address or date filter silently ignored would show an auditor rows they did not
ask for as if they had."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from posture.lib.filters import LenientQuery, QueryFilters


@dataclass(frozen=True)
class TrailFilters(QueryFilters):
    actor: str = ""
    action: str = ""  # a prefix: "host." or "auth.login"
    target_type: str = ""
    target_id: str = ""
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None  # inclusive
    address: str = ""
    # The keyset cursor: "<ISO time>|<e or c><id>", the last row of the previous page.
    before: str = ""
    ignored: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, params: Any) -> TrailFilters:
        query = LenientQuery(params)
        ignored: list[str] = []
        dates = [_date(query.text(name, 10), ignored) for name in ("from", "to")]
        address = query.text("address", 45)
        if address:
            try:
                address = str(ipaddress.ip_address(address))
            except ValueError:
                ignored.append(_("“%(value)s” is not an IP address.") % {"value": address})
                address = ""
        return cls(
            actor=query.text("actor", 150),
            action=query.text("action", 64).lower(),
            target_type=query.text("target_type", 64).lower(),
            target_id=query.text("target_id", 200),
            date_from=dates[0],
            date_to=dates[1],
            address=address,
            before=query.text("before", 80),
            ignored=tuple(ignored),
        )

    def params(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "address": self.address,
            "before": self.before,
        }

    def as_details(self) -> dict[str, str]:
        """The filters an export was made with, for its own audit event."""
        return {k: v for k, v in self.params().items() if v and k != "before"}

    def since(self) -> datetime.datetime | None:
        return _start_of(self.date_from) if self.date_from else None

    def until(self) -> datetime.datetime | None:
        """The first instant after the "to" day (the day is included)."""
        if self.date_to is None:
            return None
        return _start_of(self.date_to + datetime.timedelta(days=1))


def _date(value: str, ignored: list[str]) -> datetime.date | None:
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        ignored.append(_("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": value})
        return None


def _start_of(day: datetime.date) -> datetime.datetime:
    # Days in the site's time zone (POSTURE_TIME_ZONE), as the page shows times.
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
