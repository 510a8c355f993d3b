"""The host page says what share of the catalogue was assessed, and why not the rest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from fleet import hostpage as reports
from rules import REGISTRY
from rules.base import Remediation, Rule, Scope, Severity, Source, unknown
from tests.factories import HostFactory, HostPostureFactory, UserFactory

pytestmark = pytest.mark.django_db

SSH_RULE = Rule(
    id="DMN-TEST-SSH-ONLY",
    title="A host-level check",
    title_fr="Un contrôle de l'hôte",
    severity=Severity.MEDIUM,
    scope=Scope.DAEMON,
    rationale="r",
    rationale_fr="r",
    remediation=Remediation(en="fix it", fr="réparez"),
    check=lambda h: unknown("no SSH"),
    source=Source.SSH,
)


@pytest.fixture
def ssh_rule(monkeypatch: pytest.MonkeyPatch) -> Iterator[Rule]:
    # Whether or not the catalogue has SSH rules yet, one that needs SSH is in it here.
    monkeypatch.setitem(REGISTRY, SSH_RULE.id, SSH_RULE)
    yield SSH_RULE


def entry(**counts: int) -> dict:
    causes = counts.pop("causes", {})
    base = {"pass": 0, "fail": 0, "na": 0, "unknown": 0, "manual": 0, "reasons": []}
    return {**base, **counts, "causes": causes}


def summary_of_every_kind(ssh_rule: Rule) -> tuple[dict, list[str]]:
    """GIVEN a summary with rules decided, n/a, unknown for three causes and manual; the
    rest of the catalogue absent from it (not evaluated)."""
    ids = sorted(i for i in REGISTRY if i != ssh_rule.id)
    summary = {
        ids[0]: entry(**{"pass": 2}),
        ids[1]: entry(**{"pass": 1, "fail": 1, "unknown": 1}, causes={"data_missing": 1}),
        ids[2]: entry(na=3),
        ids[3]: entry(unknown=2, causes={"data_missing": 2}),
        # Mixed causes: listed once, under the cause of most of its unknowns.
        ids[4]: entry(unknown=3, causes={"data_missing": 1, "permission_denied": 2}),
        ids[5]: entry(manual=1),
        ssh_rule.id: entry(unknown=1, causes={"no_ssh": 1}),
        "RETIRED-RULE": entry(**{"pass": 1}),
    }
    return summary, ids


def test_every_catalogue_rule_lands_in_one_bucket(ssh_rule: Rule):
    summary, ids = summary_of_every_kind(ssh_rule)

    cov = reports.coverage(summary)

    assert (cov.decided, cov.catalogue) == (2, len(REGISTRY))
    assert [r.rule_id for r in cov.not_applicable] == [ids[2]]
    assert [(g.label, [r.rule_id for r in g.rules]) for g in cov.causes] == [
        ("data missing", [ids[3]]),
        ("no SSH access", [ssh_rule.id]),
        ("permission denied", [ids[4]]),
    ]
    assert [r.rule_id for r in cov.manual] == [ids[5]]
    assert cov.manual[0].guidance == REGISTRY[ids[5]].remediation.en
    assert len(cov.not_evaluated) == len(REGISTRY) - 7
    assert cov.ssh_would_add == 1
    by_source = {s.source: (s.assessed, s.total) for s in cov.sources}
    assert by_source["ssh"][0] == 0 and by_source["ssh"][1] >= 1
    assert by_source["api"] == (2, sum(1 for r in REGISTRY.values() if r.source.value == "api"))
    # The facts card's reading is unchanged: decided of applicable, retired rules included.
    assert (cov.assessed, cov.applicable) == (3, 6)


def test_host_page_shows_coverage_and_what_ssh_would_add(client: Client, ssh_rule: Rule):
    client.force_login(UserFactory())
    summary, ids = summary_of_every_kind(ssh_rule)
    HostPostureFactory(host=HostFactory(name="partial"), rule_summary=summary)
    total = len(REGISTRY)

    html = client.get(reverse("host-detail", args=["partial"])).content.decode()

    assert f"2 of {total} rules assessed ({round(200 / total)}%)" in html
    assert "The score is computed over the assessed rules only" in html
    assert "could not be assessed: data missing" in html
    assert "could not be assessed: permission denied" in html
    assert "could not be assessed: no SSH access" in html
    assert escape(REGISTRY[ids[5]].remediation.en) in html  # manual, with its guidance
    assert "Add SSH access to assess 1 more host-level rule." in html
    assert f'href="/rules/{ids[4]}/"' in html
    # The "Not assessed" table with its reasons is still there.
    assert f"<code>{ids[3]}</code>" in html


def test_no_coverage_section_before_a_scan_succeeds(client: Client):
    client.force_login(UserFactory())
    HostFactory(name="fresh")

    html = client.get(reverse("host-detail", args=["fresh"])).content.decode()

    assert 'id="coverage"' not in html
