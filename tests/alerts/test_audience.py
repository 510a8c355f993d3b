"""Which subscriptions a host's event reaches: by owner, team label, fleet filter, or all."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from alerts.audience import matches, quiet_until
from alerts.models import Subscription
from tests.factories import HostFactory, UserFactory

pytestmark = pytest.mark.django_db
Scope = Subscription.Scope


def sub(**fields: object) -> Subscription:
    return Subscription(user=UserFactory(username="me", email="me@example.org"), **fields)


def test_scopes() -> None:
    mine = HostFactory(name="pay-1", owner_email="Me@Example.org", labels={"team": "payments"})
    theirs = HostFactory(name="web-1", owner_email="x@example.org", labels={"team": "web"})
    assert matches(sub(scope=Scope.ALL), theirs)
    assert matches(sub(scope=Scope.OWNER), mine) and not matches(sub(scope=Scope.OWNER), theirs)
    team = sub(scope=Scope.LABEL, label_selector="team=payments")
    assert matches(team, mine) and not matches(team, theirs)
    pattern = sub(scope=Scope.FILTER, name_pattern="web-*")
    assert matches(pattern, theirs) and not matches(pattern, mine)
    both = sub(scope=Scope.FILTER, name_pattern="pay-*", label_selector="team=payments,env=prod")
    assert not matches(both, mine)  # env=prod missing
    assert not matches(sub(scope=Scope.LABEL, label_selector=""), mine)


def test_quiet_hours_wrap_past_midnight() -> None:
    night = sub(quiet_start=time(22), quiet_end=time(7), time_zone="Europe/Paris")
    at_23_paris = datetime(2026, 1, 10, 22, 0, tzinfo=UTC)
    assert quiet_until(night, at_23_paris) == datetime(2026, 1, 11, 6, 0, tzinfo=UTC)
    assert quiet_until(night, datetime(2026, 1, 10, 12, 0, tzinfo=UTC)) is None
