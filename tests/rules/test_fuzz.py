"""rules.evaluate() over any dict-shaped inspect data: a verdict for every rule and
subject, never an exception; and data of the wrong type is never a pass."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules import REGISTRY, evaluate
from rules.base import Outcome, Scope
from rules.facts import ContainerFacts, HostFacts, ImageFacts
from tests.scans import fake
from tests.strategies import FUZZ, crashed, hostile_text, json_values, wrong_type

objects = st.dictionaries(
    hostile_text | st.sampled_from(["Config", "HostConfig", "State", "RepoTags"]),
    json_values,
    max_size=4,
)
RESPONSES = fake.responses()
CONTAINER = RESPONSES[f"/containers/{fake.CID}/json"]
IMAGE = RESPONSES[f"/images/{fake.IID}/json"]


def per_scope() -> dict[Scope, int]:
    counts = dict.fromkeys(Scope, 0)
    for rule in REGISTRY.values():
        counts[rule.scope] += 1
    return counts


def host(
    version: dict[str, Any],
    info: dict[str, Any],
    containers: list[dict[str, Any]],
    images: list[tuple[dict[str, Any], Any]],
    networks: list[Any] | None = None,
) -> HostFacts:
    return HostFacts(
        version=version,
        info=info,
        containers=[ContainerFacts(id=f"{n:064x}", inspect=c) for n, c in enumerate(containers)],
        images=[
            ImageFacts(id=f"sha256:{n:064x}", inspect=i, history=h)
            for n, (i, h) in enumerate(images)
        ],
        networks=networks or [],
    )


@FUZZ
@given(
    version=objects,
    info=objects,
    containers=st.lists(objects, max_size=2),
    images=st.lists(st.tuples(objects, json_values), max_size=2),
    networks=st.lists(json_values, max_size=2),
)
def test_evaluate_never_raises_and_judges_every_subject(
    version: dict[str, Any],
    info: dict[str, Any],
    containers: list[dict[str, Any]],
    images: list[tuple[dict[str, Any], Any]],
    networks: list[Any],
) -> None:
    facts = host(version, info, containers, images, networks)
    results = evaluate(facts)
    counts = per_scope()
    assert len(results) == (
        counts[Scope.DAEMON]
        + counts[Scope.CONTAINER] * len(containers)
        + counts[Scope.IMAGE] * len(images)
    )
    for ev in results:
        assert ev.outcome in set(Outcome)
        assert isinstance(ev.subject_name, str)
        if ev.outcome is Outcome.UNKNOWN:
            assert ev.result.reason
    assert crashed(results) == []


@FUZZ
@given(
    version=wrong_type(RESPONSES["/version"]),
    info=wrong_type(RESPONSES["/info"]),
    container=wrong_type(CONTAINER),
    image=wrong_type(IMAGE),
    history=st.lists(wrong_type(RESPONSES[f"/images/{fake.IID}/history"][0]), min_size=1),
)
def test_wrong_types_are_never_a_pass(
    version: dict[str, Any],
    info: dict[str, Any],
    container: dict[str, Any],
    image: dict[str, Any],
    history: list[Any],
) -> None:
    """GIVEN a daemon whose answers have the real shape but every leaf of another type
    THEN no rule passes any subject: a pass would raise the score on data it never read."""
    facts = host(version, info, [container], [(image, history)])
    results = evaluate(facts)
    passing = [(ev.rule.id, ev.subject_name) for ev in results if ev.outcome is Outcome.PASS]
    assert not passing
    assert crashed(results) == []


def test_the_real_shape_does_pass_some_rules() -> None:
    # The control for the property above: the same answers, well typed, pass rules.
    facts = host(
        RESPONSES["/version"],
        RESPONSES["/info"],
        [CONTAINER],
        [(IMAGE, RESPONSES[f"/images/{fake.IID}/history"])],
    )
    results = evaluate(facts)
    assert any(ev.outcome is Outcome.PASS for ev in results)
    assert crashed(results) == []


@pytest.mark.parametrize("tags", [{"a": "b"}, "busybox:1", 7, [None], []])
def test_odd_repo_tags_still_name_the_image(tags: Any) -> None:
    # ImageFacts.name indexed RepoTags[0] on any truthy value: a dict raised KeyError
    # outside the per-rule guard and crashed the whole evaluation.
    facts = host({}, {}, [], [({"RepoTags": tags}, None)])
    results = evaluate(facts)
    names = {ev.subject_name for ev in results if ev.subject_kind is Scope.IMAGE}
    assert crashed(results) == []
    assert names == ({"None"} if tags == [None] else {f"sha256:{0:064x}"[:19]})


@pytest.mark.parametrize("rule_id", ["IMG-ADD", "IMG-PACKAGE-CACHE", "IMG-UPDATE-ALONE"])
@pytest.mark.parametrize(
    "history", [[{"CreatedBy": 3}], [{"CreatedBy": None}], [{}], ["ADD x /"], [{"X": 1}, 5]]
)
def test_history_without_readable_steps_is_unknown(rule_id: str, history: list[Any]) -> None:
    image = ImageFacts(id=fake.IID, inspect=IMAGE, history=history)
    assert REGISTRY[rule_id].check(image).outcome is Outcome.UNKNOWN
