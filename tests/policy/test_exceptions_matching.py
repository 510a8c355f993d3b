"""Which failures an exception accepts: by host, label, container name glob, image glob.
Fail-closed: only a FAIL is ever marked, and it stays a FAIL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from policy import exceptions as services
from policy import matching
from rules import Outcome
from rules.base import Scope, not_applicable, passed, unknown
from tests.factories import HostFactory, RiskExceptionFactory
from tests.policy.exception_helpers import (
    CONTAINER_RULE,
    daemon_rule,
    evaluation,
    facts,
    image_rule,
)

pytestmark = pytest.mark.django_db


def accepted(host, evaluations, with_facts=True):  # type: ignore[no-untyped-def]
    out = services.apply(evaluations, host, timezone.now(), facts() if with_facts else None)
    return [ev.accepted_by for ev in out]


def test_host_scope_covers_that_host_only() -> None:
    host, other = HostFactory(name="pay-1"), HostFactory(name="pay-2")
    exc = RiskExceptionFactory(host=host)
    assert accepted(host, [evaluation(CONTAINER_RULE)]) == [exc.pk]
    assert accepted(other, [evaluation(CONTAINER_RULE)]) == [None]


def test_label_scope_needs_the_exact_label() -> None:
    prod = HostFactory(labels={"env": "prod"})
    dev = HostFactory(labels={"env": "dev"})
    bare = HostFactory()
    exc = RiskExceptionFactory(label_key="env", label_value="prod")
    assert accepted(prod, [evaluation(CONTAINER_RULE)]) == [exc.pk]
    assert accepted(dev, [evaluation(CONTAINER_RULE)]) == [None]
    assert accepted(bare, [evaluation(CONTAINER_RULE)]) == [None]


def test_container_glob_matches_the_name_without_its_slash() -> None:
    host = HostFactory()
    exc = RiskExceptionFactory(container_pattern="payments-*")
    assert accepted(host, [evaluation(CONTAINER_RULE, name="payments-api")]) == [exc.pk]
    assert accepted(host, [evaluation(CONTAINER_RULE, name="/payments-api")]) == [exc.pk]
    assert accepted(host, [evaluation(CONTAINER_RULE, name="web-payments-api")]) == [None]
    assert accepted(host, [evaluation(CONTAINER_RULE, name="Payments-api")]) == [None]


def test_image_glob_matches_a_containers_image_and_an_images_tags() -> None:
    host = HostFactory()
    on_containers = RiskExceptionFactory(image_pattern="registry.example/legacy/*")
    on_images = RiskExceptionFactory(
        rule_id=image_rule(), image_pattern="registry.example/legacy/*"
    )
    assert accepted(host, [evaluation(CONTAINER_RULE)]) == [on_containers.pk]
    assert accepted(host, [evaluation(image_rule())]) == [on_images.pk]
    # Another image: no match.
    assert (
        services.apply(
            [evaluation(CONTAINER_RULE)],
            host,
            timezone.now(),
            facts(image_ref="registry.example/new/app:2"),
        )[0].accepted_by
        is None
    )


def test_wrong_rule_and_daemon_subjects_are_not_covered() -> None:
    host = HostFactory()
    RiskExceptionFactory(image_pattern="registry.example/*", host=host)
    RiskExceptionFactory(rule_id=daemon_rule(), container_pattern="payments-*", host=host)
    assert accepted(host, [evaluation(image_rule()), evaluation(daemon_rule())]) == [None, None]


def test_only_failures_are_marked_and_they_stay_failures() -> None:
    host = HostFactory()
    exc = RiskExceptionFactory(host=host)
    evs = [
        evaluation(CONTAINER_RULE),
        evaluation(CONTAINER_RULE, passed("HostConfig.Privileged", False), key="p" * 64),
        evaluation(CONTAINER_RULE, unknown("no data"), key="u" * 64),
        evaluation(CONTAINER_RULE, not_applicable("n/a"), key="n" * 64),
    ]
    out = services.apply(evs, host, timezone.now(), facts())
    assert [ev.accepted_by for ev in out] == [exc.pk, None, None, None]
    assert [ev.outcome for ev in out] == [
        Outcome.FAIL,
        Outcome.PASS,
        Outcome.UNKNOWN,
        Outcome.NOT_APPLICABLE,
    ]


def test_expired_and_revoked_exceptions_accept_nothing() -> None:
    host = HostFactory()
    RiskExceptionFactory(host=host, days=-1)
    revoked = RiskExceptionFactory(host=host)
    revoked.revoked_at = timezone.now() - timedelta(minutes=1)
    revoked.save()
    assert accepted(host, [evaluation(CONTAINER_RULE)]) == [None]


def test_the_latest_expiry_wins_when_two_cover_a_failure() -> None:
    host = HostFactory()
    RiskExceptionFactory(host=host, days=10)
    later = RiskExceptionFactory(container_pattern="payments-*", days=90)
    assert accepted(host, [evaluation(CONTAINER_RULE)]) == [later.pk]


@pytest.mark.parametrize(
    ("scope", "refused"),
    [
        ({}, True),  # no scope at all
        ({"container_pattern": "*"}, True),  # everything, everywhere
        ({"image_pattern": "**"}, True),
        ({"image_pattern": "?*"}, True),
        ({"container_pattern": "*", "has_host": True}, False),
        ({"container_pattern": "*", "label_key": "env"}, False),
        ({"container_pattern": "payments-*"}, False),
        ({"image_pattern": "registry.example/legacy/*"}, False),
    ],
)
def test_scope_validation(scope: dict[str, object], refused: bool) -> None:
    errors = matching.scope_errors(
        rule_scope=Scope.CONTAINER,
        has_host=bool(scope.get("has_host")),
        label_key=str(scope.get("label_key", "")),
        container_pattern=str(scope.get("container_pattern", "")),
        image_pattern=str(scope.get("image_pattern", "")),
    )
    assert bool(errors) is refused


def test_patterns_must_fit_the_rule_and_be_sane() -> None:
    common = {"has_host": True, "label_key": ""}
    assert matching.scope_errors(
        rule_scope=Scope.IMAGE, container_pattern="web-*", image_pattern="", **common
    )
    assert matching.scope_errors(
        rule_scope=Scope.DAEMON, container_pattern="", image_pattern="nginx*", **common
    )
    assert not matching.scope_errors(
        rule_scope=Scope.IMAGE, container_pattern="", image_pattern="nginx*", **common
    )
    assert matching.pattern_error("")
    assert matching.pattern_error("a" * 201)
    assert matching.pattern_error("pay ments")
    assert matching.pattern_error("pay\nments")
    assert matching.pattern_error("payments-*") is None
