"""Which subscriptions a host's event reaches: one host, by owner, team label, fleet filter,
or all; and the same decision over the fleet for the form's preview."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from access.scope import Scope as AccessScope
from alerts.audience import hosts_matching, matches, quiet_until
from alerts.models import Subscription
from hosts.models import Host
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


def test_one_host() -> None:
    pay, web = HostFactory(name="pay-1"), HostFactory(name="web-1")
    assert matches(sub(scope=Scope.HOST, host=pay), pay)
    assert not matches(sub(scope=Scope.HOST, host=pay), web)
    assert not matches(sub(scope=Scope.HOST), pay)  # its host deleted: nothing


def test_hosts_matching_decides_as_the_fan_out_does() -> None:
    HostFactory(name="pay-2", owner_email="me@example.org", labels={"team": "payments"})
    HostFactory(name="pay-1", labels={"team": "payments", "env": "prod"})
    web = HostFactory(name="web-1", labels={"team": "web", "env": "prod"})
    every = Host.objects.all()
    assert hosts_matching(sub(scope=Scope.ALL), every) == ["pay-1", "pay-2", "web-1"]
    assert hosts_matching(sub(scope=Scope.HOST, host=web), every) == ["web-1"]
    team = sub(scope=Scope.LABEL, label_selector="team=payments")
    assert hosts_matching(team, every) == ["pay-1", "pay-2"]
    assert hosts_matching(sub(scope=Scope.OWNER), every) == ["pay-2"]
    prod = sub(scope=Scope.FILTER, label_selector="env=prod", name_pattern="*-1")
    assert hosts_matching(prod, every) == ["pay-1", "web-1"]
    payments_only = AccessScope.of_teams(["payments"]).filter(Host.objects.all())
    assert hosts_matching(prod, payments_only) == ["pay-1"]
    assert hosts_matching(sub(scope=Scope.HOST, host=web), payments_only) == []


def test_quiet_hours_wrap_past_midnight() -> None:
    night = sub(quiet_start=time(22), quiet_end=time(7), time_zone="Europe/Paris")
    at_23_paris = datetime(2026, 1, 10, 22, 0, tzinfo=UTC)
    assert quiet_until(night, at_23_paris) == datetime(2026, 1, 11, 6, 0, tzinfo=UTC)
    assert quiet_until(night, datetime(2026, 1, 10, 12, 0, tzinfo=UTC)) is None
