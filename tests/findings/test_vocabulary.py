"""The rule engine's English, shown in French: reasons, guidance, catalogue words."""

from __future__ import annotations

import pytest
from django.utils import translation

from findings import vocabulary
from rules import catalogue
from rules.base import Cause, Severity
from rules.engines import not_supported
from rules.fields import absent, malformed
from rules.host_access import no_ssh
from scans.filemodes import NEEDS_DEEP


@pytest.fixture
def french():
    with translation.override("fr"):
        yield


def test_reasons_the_rules_give_are_translated_with_their_data_kept(french):
    assert vocabulary.reason(absent("HostConfig.Memory").reason) == (
        "HostConfig.Memory est absent des données renvoyées par le démon"
    )
    assert vocabulary.reason(malformed("Config.Env", "a list of strings").reason) == (
        "Config.Env n'est pas une liste de chaînes"
    )
    assert vocabulary.reason(no_ssh().reason).startswith("vérification au niveau de l'hôte")
    assert vocabulary.reason(not_supported("live-restore").reason) == (
        "Podman n'a pas de live-restore : non pris en charge par ce moteur"
    )
    assert vocabulary.reason(f"not assessed: {NEEDS_DEEP}").startswith("non évalué : ")


def test_a_nested_reason_is_translated_too(french):
    note = "the daemon reported no data-root to check against the worker's machine"
    text = vocabulary.reason(no_ssh(note).reason)
    assert "(non lus localement : le démon n'a signalé aucun data-root" in text


def test_an_unknown_reason_is_shown_as_it_is_and_english_is_untouched(french):
    assert vocabulary.reason("a reason from a newer rule") == "a reason from a newer rule"
    with translation.override("en"):
        assert vocabulary.reason(absent("X").reason) == absent("X").reason


def test_labels(french):
    assert vocabulary.severity_label(Severity.CRITICAL) == "critique"
    assert vocabulary.cause_label(Cause.NO_SSH) == "pas d'accès SSH"
    assert vocabulary.cause_label("from_the_future") == "from the future"
    assert vocabulary.kind_label("container") == "conteneur"
    assert vocabulary.state_label("exited") == "arrêté"
    assert dict(vocabulary.severity_choices())[int(Severity.HIGH)] == "élevée"


def test_the_catalogue_words_are_all_known_and_translated(french):
    texts = {
        *catalogue.OWASP_RULES.values(),
        *catalogue.OWASP_NOT_CHECKED.values(),
        *catalogue.CIS_SECTIONS.values(),
        *catalogue.SOURCE_LABELS.values(),
    }
    assert texts == set(vocabulary.CATALOGUE_TEXTS)  # kept in step with rules/catalogue.py
    assert [t for t in texts if vocabulary.catalogue_text(t) == t] == []


def test_every_reason_a_plain_host_gets_is_translated(french):
    """GIVEN a daemon, a container and an image as the factories make them, and the same
    with /info, the network list and the image data stripped, all without SSH WHEN every
    rule runs THEN each reason or guidance it gives has a French text."""
    from rules import evaluate
    from tests import factories

    plain = factories.host(containers=[factories.container(linked=False)])
    plain.images = [factories.image()]
    bare = factories.host(
        info={"SecurityOptions": factories.DROP, "Swarm": factories.DROP},
        networks=[],
        containers=[factories.container({"Config": factories.DROP}, linked=False)],
    )
    bare.images = [factories.image({"Config": factories.DROP}, history=None)]
    reasons = {e.result.reason for f in (plain, bare) for e in evaluate(f) if e.result.reason}

    assert len(reasons) > 20  # the check checks something
    assert sorted(r for r in reasons if vocabulary.reason(r) == r) == []


def test_a_failed_ssh_access_reads_in_french(french):
    text = (
        "stat of /etc/docker was not collected over SSH (host collection incomplete: "
        "SSH access for host checks failed: auth)"
    )
    assert vocabulary.reason(text) == (
        "stat de /etc/docker : non collecté par SSH (collecte de l'hôte incomplète : "
        "l'accès SSH des vérifications de l'hôte a échoué : auth)"
    )
