"""A finding's exception as read with .values() (drill-down tables): no query per row.

Same attributes the templates read on a RiskException (current_state, expires_at,
revoked_at, reason, owner), so templates/findings/finding_state.html renders either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

# Add these to a Finding .values() call; Note.of() reads them back.
FIELDS = (
    "accepted",
    "exception_id",
    "exception__expires_at",
    "exception__revoked_at",
    "exception__reason",
    "exception__owner",
)


@dataclass(frozen=True)
class Note:
    expires_at: datetime
    revoked_at: datetime | None
    reason: str
    owner: str

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Note | None:
        if row.get("exception_id") is None:
            return None
        return cls(
            row["exception__expires_at"],
            row["exception__revoked_at"],
            row["exception__reason"] or "",
            row["exception__owner"] or "",
        )

    @property
    def current_state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= timezone.now() else "active"
