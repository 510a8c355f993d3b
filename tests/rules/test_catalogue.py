"""The catalogue as a whole: metadata completeness, coverage of the cheat sheet, and
robustness of every rule against missing or hostile data."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import REGISTRY, Outcome, Scope, Severity, evaluate
from rules.base import Result
from rules.cis import NEW_IN_V18, v18
from rules.facts import ContainerFacts, HostFacts, ImageFacts
from tests.factories import T1, T2, container, host, image
from tests.strategies import FUZZ

RULES = sorted(REGISTRY.values(), key=lambda r: r.id)
PREFIX = {Scope.CONTAINER: "CTR-", Scope.DAEMON: "DMN-", Scope.IMAGE: "IMG-"}
CIS_ID = re.compile(r"^\d+(\.\d+)+$")
# MANUAL rules ask a person whatever the data: never a pass or a fail either.
UNDECIDED = {Outcome.UNKNOWN, Outcome.NOT_APPLICABLE, Outcome.MANUAL}


def test_catalogue_covers_cheat_sheet_rules_one_to_eight():
    assert len(REGISTRY) >= 12
    covered = {n for r in RULES for n in r.owasp}
    assert set(range(1, 9)) <= covered


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_metadata_is_complete(rule):
    assert rule.id.startswith(PREFIX[rule.scope])
    assert isinstance(rule.severity, Severity)
    for text in (rule.title, rule.title_fr, rule.rationale, rule.rationale_fr):
        assert text.strip()
    assert rule.remediation.en.strip()
    assert rule.remediation.fr.strip()
    assert rule.remediation.en != rule.remediation.fr
    assert rule.owasp or rule.cis
    assert all(n == "5a" or 0 <= n <= 13 for n in rule.owasp)
    assert all(CIS_ID.match(cid) for cid in rule.cis)


def test_real_daemon_facts_evaluate_without_crashing():
    """GIVEN the facts the test daemon really returns (t1 default, t2 privileged)
    WHEN every rule runs through the engine
    THEN none of them falls back to the engine's crash verdict."""
    t1, t2 = container(linked=False), container(base=T2, linked=False)
    facts = host(containers=[t1, t2])
    facts.images = [image()]
    results = evaluate(facts)
    assert len(results) == sum(
        {Scope.DAEMON: 1, Scope.CONTAINER: 2, Scope.IMAGE: 1}[r.scope] for r in RULES
    )
    assert not [e.rule.id for e in results if "could not read" in e.result.reason]
    verdicts = {(e.rule.id, e.subject_name): e.outcome for e in results}
    assert verdicts["CTR-PRIVILEGED", "t2"] is Outcome.FAIL
    assert verdicts["CTR-PRIVILEGED", "t1"] is Outcome.PASS
    assert verdicts["CTR-SECCOMP", "t2"] is Outcome.FAIL
    assert verdicts["CTR-USER", "t1"] is Outcome.FAIL


def empty_subject(scope: Scope) -> object:
    if scope is Scope.CONTAINER:
        return ContainerFacts(id="c", inspect={}, host=HostFacts(version={}, info={}))
    if scope is Scope.IMAGE:
        return ImageFacts(id="i", inspect={}, history=None)
    return HostFacts(version={}, info={})


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_no_data_never_passes_or_fails(rule):
    result = rule.check(empty_subject(rule.scope))
    assert result.outcome in UNDECIDED
    assert result.reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=8,
)
FIELDS = sorted({*T1, *T1["HostConfig"], *T1["Config"], "Mounts", "Binds", "RestartPolicy"})


@settings(FUZZ, max_examples=150)
@given(
    top=st.dictionaries(st.sampled_from(FIELDS), json_values),
    host_config=st.dictionaries(st.sampled_from(FIELDS), json_values),
    info=st.dictionaries(
        st.sampled_from(["SecurityOptions", "DockerRootDir", "Debug"]), json_values
    ),
)
def test_hostile_container_data_never_crashes(top, host_config, info):
    inspect = {**T1, **top, "HostConfig": {**T1["HostConfig"], **host_config}}
    facts = ContainerFacts(id="c", inspect=inspect, host=HostFacts(version={}, info=info))
    for rule in RULES:
        if rule.scope is Scope.CONTAINER:
            assert isinstance(rule.check(facts), Result)


@settings(FUZZ, max_examples=150)
@given(info=st.dictionaries(st.text(max_size=20), json_values), version=json_values)
def test_hostile_daemon_data_never_crashes(info, version):
    facts = HostFacts(
        version=version if isinstance(version, dict) else {"Components": version},
        info={**host().info, **info},
        networks=[{"Name": "bridge", "Options": version}],
    )
    for rule in RULES:
        if rule.scope is Scope.DAEMON:
            assert isinstance(rule.check(facts), Result)


@settings(FUZZ, max_examples=150)
@given(inspect=st.dictionaries(st.text(max_size=12), json_values), history=json_values)
def test_hostile_image_data_never_crashes(inspect, history):
    facts = ImageFacts(id="i", inspect=inspect, history=history)
    for rule in RULES:
        if rule.scope is Scope.IMAGE:
            assert isinstance(rule.check(facts), Result)


CIS_RULES = [r for r in RULES if r.cis]
# Rules whose v1.6.0 ids rules.cis knows how to renumber (sections 1.2, 2, 4, 5, 7):
# these must carry their v1.8.0 ids. Host rules of sections 1.1 and 3 are mapped by their own
# module and only need to be well formed here.
MAPPED_RULES = [r for r in CIS_RULES if all(v18(cid) for cid in r.cis)]


@pytest.mark.parametrize("rule", CIS_RULES, ids=lambda r: r.id)
def test_every_cis_rule_has_a_level_and_says_what_decides_it(rule):
    assert rule.cis_level in (1, 2)
    assert rule.decided_by.strip()
    assert all(CIS_ID.match(cid) for cid in rule.cis_v18)


@pytest.mark.parametrize("rule", MAPPED_RULES, ids=lambda r: r.id)
def test_v18_ids_follow_the_recorded_renumbering(rule):
    mapped = tuple(v18(cid) for cid in rule.cis)
    assert rule.cis_v18[: len(mapped)] == mapped
    # Beyond the mapped ids, only recommendations that v1.8.0 added may appear.
    assert set(rule.cis_v18[len(mapped) :]) <= NEW_IN_V18


def test_section_two_renumbering_is_the_devicemapper_insertion():
    assert [v18(f"2.{n}") for n in (1, 6, 7, 9, 12, 15, 17, 18)] == [
        "2.1",
        "2.6",
        "2.8",
        "2.10",
        "2.13",
        "2.16",
        "2.18",
        "2.19",
    ]
    assert v18("5.32") == "5.32"
    assert v18("3.1") is None  # section 3 belongs to the host rules; not mapped here


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_says_what_decides_it(rule):
    assert rule.decided_by.strip()
