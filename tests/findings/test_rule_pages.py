"""The rule catalogue page and a rule's page: every rule, filters, the htmx fragment, fleet
pass rates, a flat query count, and the hosts failing a rule, escaped."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from findings.models import HostPosture
from rules import REGISTRY
from rules.catalogue import SEVERITIES, fleet_stats, snippets
from tests.factories import FindingFactory, HostFactory, HostPostureFactory, UserFactory
from tests.posture.test_access import EVENT_HANDLER, INLINE_SCRIPT, INLINE_STYLE

pytestmark = pytest.mark.django_db

RULE_IDS = sorted(REGISTRY)


@pytest.fixture
def user_client(client: Client) -> Client:
    client.force_login(UserFactory())
    return client


def rule_ids(html: str) -> list[str]:
    return re.findall(r'class="rule-link mono" href="/rules/([^/]+)/"', html)


def get(client: Client, **params: str) -> str:
    response = client.get(reverse("rules"), params)
    assert response.status_code == 200
    return response.content.decode()


def entry(passing: int = 0, failing: int = 0, unknown: int = 0, na: int = 0) -> dict:
    return {"pass": passing, "fail": failing, "na": na, "unknown": unknown, "manual": 0}


def test_catalogue_lists_every_registered_rule_with_its_mappings(user_client: Client):
    html = get(user_client)

    assert rule_ids(html) == RULE_IDS
    for rule in REGISTRY.values():
        assert escape(rule.title) in html
        for n in rule.owasp:
            assert f'href="/rules/?owasp={n}"' in html
    assert 'href="/rules.json?download=1"' in html
    # The top navigation, this page's entry marked as current.
    assert '<a href="/rules/" aria-current="page">Rules</a>' in html


def test_titles_follow_the_active_language(user_client: Client):
    rule = REGISTRY[RULE_IDS[0]]
    # Each request picks its own language (LocaleMiddleware), whatever the test thread's is.
    response = user_client.get(reverse("rules"), headers={"accept-language": "fr"})
    html = response.content.decode()
    assert rule.title_fr.replace("'", "&#x27;") in html


@pytest.mark.parametrize(
    "param, value, wanted",
    [
        ("scope", "container", lambda r: r.scope.value == "container"),
        ("scope", "daemon", lambda r: r.scope.value == "daemon"),
        ("severity", "critical", lambda r: r.severity.label == "critical"),
        ("source", "api", lambda r: r.source.value == "api"),
        ("source", "ssh", lambda r: r.source.value == "ssh"),
        ("owasp", "3", lambda r: 3 in r.owasp),
        ("q", "privileged", lambda r: "privileged" in f"{r.id} {r.title} {r.title_fr}".lower()),
    ],
)
def test_filters_keep_only_matching_rules(user_client: Client, param, value, wanted):
    html = get(user_client, **{param: value})

    assert rule_ids(html) == sorted(r.id for r in REGISTRY.values() if wanted(r))
    if not any(wanted(r) for r in REGISTRY.values()):
        assert "No rule matches these filters." in html


def test_unknown_filter_values_are_ignored(user_client: Client):
    assert rule_ids(get(user_client, scope="nope", severity="x", sort="evil")) == RULE_IDS


def test_htmx_request_gets_only_the_table_with_shareable_links(user_client: Client):
    response = user_client.get(reverse("rules"), {"scope": "image"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()

    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="rules-table"')
    assert "<html" not in html and 'class="filters"' not in html
    assert rule_ids(html) == sorted(r.id for r in REGISTRY.values() if r.scope.value == "image")
    # Sort links keep the filter, as real hrefs and as hx-get with a pushed URL.
    assert 'href="?scope=image&amp;sort=-severity"' in html
    assert 'hx-get="?scope=image&amp;sort=-severity"' in html
    assert 'hx-push-url="true"' in html


def test_sort_by_severity_puts_critical_first(user_client: Client):
    ids = rule_ids(get(user_client, sort="-severity"))

    levels = [REGISTRY[i].severity for i in ids]
    assert levels == sorted(levels, reverse=True)
    assert ids == sorted(RULE_IDS, key=lambda i: (SEVERITIES.index(REGISTRY[i].severity), i))


def three_hosts() -> str:
    """GIVEN three hosts with a picture and one never scanned, one rule in various states."""
    rule_id = RULE_IDS[0]
    HostPostureFactory(host=HostFactory(name="a"), rule_summary={rule_id: entry(3, 1)})
    HostPostureFactory(host=HostFactory(name="b"), rule_summary={rule_id: entry(0, 2)})
    HostPostureFactory(
        host=HostFactory(name="c"), rule_summary={rule_id: entry(unknown=2), "X": entry(1)}
    )
    HostFactory(name="never")
    return rule_id


def test_pass_rate_is_passing_over_decided_subjects_across_hosts():
    rule_id = three_hosts()

    stats = fleet_stats(HostPosture.objects.values_list("rule_summary", flat=True))
    rule = stats.of(rule_id)

    assert stats.hosts == 3
    assert (rule.passing, rule.failing) == (3, 3)
    assert rule.pass_rate == 0.5 and rule.pass_percent == 50
    assert (rule.hosts_failing, rule.hosts_assessed, rule.hosts_not_assessed) == (2, 2, 1)
    other = stats.of(RULE_IDS[1])
    assert other.pass_rate is None and other.hosts_not_assessed == 3


def test_pass_rate_and_host_counts_on_the_page(user_client: Client):
    rule_id = three_hosts()

    html = get(user_client, q=rule_id)
    row = html[html.index(f'id="rule-{rule_id}"') :]
    row = row[: row.index("</tr>")]

    assert '<meter min="0" max="100" low="80" high="95" optimum="100" value="50">' in row
    assert "3 of 6 subjects pass" in row
    assert '<span class="count-failing">2</span> <span class="muted">/ 2</span>' in row
    assert "pass rates over 3 scanned hosts" in html


def test_sort_by_pass_rate_puts_worst_first_and_unassessed_last(user_client: Client):
    worst, best = RULE_IDS[0], RULE_IDS[1]
    summary = {worst: entry(1, 3), best: entry(4, 0)}
    HostPostureFactory(host=HostFactory(name="a"), rule_summary=summary)

    ids = rule_ids(get(user_client, sort="pass_rate"))
    assert ids[:2] == [worst, best]
    ids = rule_ids(get(user_client, sort="-pass_rate"))
    assert ids[:2] == [best, worst]


def page_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("rules"), {"sort": "-failing"}).status_code == 200
    return len(ctx.captured_queries)


def add_hosts(start: int, count: int) -> None:
    for i in range(start, start + count):
        summary = {rule_id: entry(i % 4, i % 3) for rule_id in RULE_IDS}
        HostPostureFactory(host=HostFactory(name=f"host{i:03d}"), rule_summary=summary)


def test_catalogue_query_count_does_not_grow_with_hosts(user_client: Client):
    add_hosts(0, 3)
    with_three = page_queries(user_client)

    add_hosts(3, 27)
    with_thirty = page_queries(user_client)

    assert with_thirty == with_three
    # session, user, the account's role and teams (read on every request, so that a revoked
    # role takes effect at once), the totals' version and, on a change, their GROUP BY; the
    # "Fix first" ranking's version and, on a change, the pictures and open findings (3).
    assert with_three <= 5 + 3 + 2  # +2: the header's fleet counters


def test_rule_page_shows_mappings_fix_and_failing_hosts_escaped(user_client: Client):
    # The rule with the most fix snippets, to see them all with their copy buttons.
    rule = max(sorted(REGISTRY.values(), key=lambda r: r.id), key=lambda r: len(snippets(r)))
    host = HostFactory(name="web1")
    FindingFactory(
        host=host,
        rule_id=rule.id,
        subject_name="<script>alert(1)</script>",
        evidence=[{"field": "Config.Labels", "value": "<img src=x onerror=alert(2)>"}],
    )
    FindingFactory(host=HostFactory(name="fixed"), rule_id=rule.id, resolved_at=timezone.now())
    FindingFactory(host=HostFactory(name="other-rule"), rule_id="SOMETHING-ELSE")

    response = user_client.get(reverse("rule-detail", args=[rule.id]))
    html = response.content.decode()

    assert response.status_code == 200
    assert 'href="/hosts/web1/"' in html
    assert "fixed" not in html and "other-rule" not in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    for cid in rule.cis:
        assert cid in html
    assert escape(rule.rationale) in html
    assert escape(rule.remediation.en) in html
    for n, snippet in enumerate(snippets(rule), start=1):
        assert f'data-copy-target="snippet-rule-{n}"' in html
        assert f'<code id="snippet-rule-{n}">{escape(snippet["code"])}</code>' in html


def test_rule_page_without_failures_and_unknown_rule(user_client: Client):
    html = user_client.get(reverse("rule-detail", args=[RULE_IDS[0]])).content.decode()
    assert "No host currently fails this rule." in html
    assert user_client.get(reverse("rule-detail", args=["NOPE"])).status_code == 404


@pytest.mark.parametrize("name, args", [("rules", []), ("rule-detail", [RULE_IDS[0]])])
def test_catalogue_pages_need_a_login(client: Client, name: str, args: list[str]):
    url = reverse(name, args=args)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_catalogue_pages_carry_no_inline_code(user_client: Client):
    FindingFactory(host=HostFactory(name="web1"), rule_id=RULE_IDS[0])
    HostPostureFactory(host=HostFactory(name="web2"), rule_summary={RULE_IDS[0]: entry(1, 1)})
    for url in (
        reverse("rules"),
        reverse("rule-detail", args=[RULE_IDS[0]]),
        reverse("host-detail", args=["web2"]),
    ):
        html = user_client.get(url).content.decode()
        assert not INLINE_SCRIPT.search(html), url
        assert not INLINE_STYLE.search(html), url
        assert not EVENT_HANDLER.search(html), url
