"""Drill-down from a rule, a container or an image to every open finding across the fleet:
complete, filterable by host label, severity and kind, searchable, sortable, paged, htmx
fragments with shareable URLs, one click to the host and the subject, evidence inline; ids
checked before any query, hostile names escaped, and query counts that do not grow."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from findings.models import Container, Image
from hosts.models import Host
from tests.factories import FindingFactory, HostFactory, HostPostureFactory, UserFactory
from tests.posture.test_access import EVENT_HANDLER, INLINE_SCRIPT, INLINE_STYLE

pytestmark = pytest.mark.django_db

RULE = "CTR-PRIVILEGED"
IMAGE_RULE = "IMG-ROOT-USER"
NGINX_ID = "sha256:" + "a" * 64
REDIS_ID = "sha256:" + "b" * 64


@pytest.fixture
def user_client(client: Client) -> Client:
    client.force_login(UserFactory())
    return client


def cid(n: int) -> str:
    return f"{n:064x}"


def container(host: Host, n: int, name: str, image_id: str = NGINX_ID, ref: str = "nginx:1.27"):
    return Container.objects.create(
        host=host,
        container_id=cid(n),
        name=name,
        image_id=image_id,
        image_ref=ref,
        state="running",
        digest="d",
    )


def image(host: Host, image_id: str = NGINX_ID, tags: list[str] | None = None) -> Image:
    tags = ["nginx:1.27", "nginx:latest"] if tags is None else tags
    return Image.objects.create(
        host=host, image_id=image_id, name=tags[0] if tags else image_id[:19], tags=tags, digest="d"
    )


def html_of(client: Client, url: str, params: dict[str, Any] | None = None, **headers: str) -> str:
    response = client.get(url, params or {}, headers=headers)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def rule_url(rule_id: str = RULE) -> str:
    return reverse("rule-detail", args=[rule_id])


def row_hosts(html: str) -> list[str]:
    return re.findall(r'<a class="host-link" href="/hosts/([^/]+)/">', html)


def rows(html: str) -> int:
    return html.count('<tr class="finding-row">')


# --- The rule page ---------------------------------------------------------------------------


def test_rule_page_lists_every_failing_subject_with_links_and_evidence(user_client: Client):
    web = HostFactory(name="web1")
    FindingFactory(
        host=web,
        rule_id=RULE,
        subject_key=cid(1),
        subject_name="payments",
        evidence=[{"field": "HostConfig.Privileged", "value": True}],
    )
    FindingFactory(
        host=HostFactory(name="web2"),
        rule_id=RULE,
        subject_kind="image",
        subject_key=NGINX_ID,
        subject_name="nginx:1.27",
        evidence=[{"field": "Config.User", "value": ""}],
    )
    FindingFactory(
        host=HostFactory(name="web3"), rule_id=RULE, subject_kind="daemon", subject_key=""
    )
    FindingFactory(host=HostFactory(name="fixed"), rule_id=RULE, resolved_at=timezone.now())
    FindingFactory(host=HostFactory(name="other"), rule_id="CTR-USER")

    html = html_of(user_client, rule_url())

    assert row_hosts(html) == ["web1", "web2", "web3"]
    assert f'href="/hosts/web1/containers/{cid(1)}/"' in html
    assert 'href="/containers/?name=payments"' in html
    assert f'href="/images/{NGINX_ID}/"' in html
    assert '<code class="evidence-field"><bdi>HostConfig.Privileged</bdi></code>' in html
    assert '<code class="evidence-value"><bdi>true</bdi></code>' in html
    assert '<code class="evidence-field"><bdi>Config.User</bdi></code>' in html
    assert "fixed" not in html and "/hosts/other/" not in html


def test_rule_page_pages_by_fifty_and_keeps_filters_in_page_links(user_client: Client):
    host = HostFactory(name="big", labels={"env": "prod"})
    for n in range(120):
        FindingFactory(host=host, rule_id=RULE, subject_name=f"app-{n:03d}")

    first = html_of(user_client, rule_url(), {"label": "env=prod"})
    third = html_of(user_client, rule_url(), {"label": "env=prod", "page": "3"})
    beyond = html_of(user_client, rule_url(), {"page": "99"})

    assert rows(first) == 50 and rows(third) == 20 and rows(beyond) == 20
    assert "page 1 of 3" in first
    assert 'href="?label=env%3Dprod&amp;page=2"' in first
    assert 'hx-get="?label=env%3Dprod&amp;page=2"' in first
    assert "app-000" in first and "app-050" not in first
    assert "app-119" in third


@pytest.mark.parametrize(
    "params, wanted",
    [
        ({"label": "env=prod"}, ["prod-a", "prod-b"]),
        ({"label": ["env=prod", "team=web"]}, ["prod-a"]),
        ({"label": "team"}, ["prod-a", "stage"]),
        ({"label": 'we"ird=<x>'}, []),
        ({"q": "stage"}, ["stage"]),  # host name
        ({"q": "PAYMENTS"}, ["prod-b"]),  # subject name, any case
        ({"q": "/var/run/docker"}, ["stage"]),  # an evidence value
        ({"kind": "image"}, ["prod-b"]),
        ({"kind": "nonsense", "sort": "nonsense"}, ["prod-a", "prod-b", "stage"]),
    ],
)
def test_rule_page_filters(user_client: Client, params: dict[str, Any], wanted: list[str]):
    prod_a = HostFactory(name="prod-a", labels={"env": "prod", "team": "web"})
    prod_b = HostFactory(name="prod-b", labels={"env": "prod"})
    stage = HostFactory(name="stage", labels={"env": "staging", "team": "data"})
    FindingFactory(host=prod_a, rule_id=RULE, subject_name="web")
    FindingFactory(
        host=prod_b,
        rule_id=RULE,
        subject_kind="image",
        subject_key=NGINX_ID,
        subject_name="payments-image",
    )
    FindingFactory(
        host=stage,
        rule_id=RULE,
        subject_name="ci",
        evidence=[
            {"field": "HostConfig.Privileged", "value": "true"},
            {"field": "Mounts", "value": "/var/run/docker.sock"},
        ],
    )

    assert row_hosts(html_of(user_client, rule_url(), params)) == wanted


def test_rows_offer_their_host_labels_as_filters(user_client: Client):
    host = HostFactory(name="prod-a", labels={"env": "prod", "team": "web", "zone": "eu"})
    FindingFactory(host=host, rule_id=RULE)

    html = html_of(user_client, rule_url(), {"q": "prod"})

    assert 'href="?q=prod&amp;label=env%3Dprod"' in html
    assert 'href="?q=prod&amp;label=team%3Dweb"' in html
    assert "zone=eu" not in html  # env and team only


def test_severity_filter_shows_only_when_a_profile_regraded_the_rule(user_client: Client):
    FindingFactory(host=HostFactory(name="a"), rule_id=RULE, severity=4)
    assert 'name="severity"' not in html_of(user_client, rule_url())

    FindingFactory(host=HostFactory(name="b"), rule_id=RULE, severity=2)
    html = html_of(user_client, rule_url())
    assert '<option value="critical">' in html and '<option value="medium">' in html
    assert row_hosts(html_of(user_client, rule_url(), {"severity": "medium"})) == ["b"]


@pytest.mark.parametrize(
    "sort, wanted",
    [
        ("host", ["a", "b", "c"]),
        ("-host", ["c", "b", "a"]),
        ("subject", ["b", "c", "a"]),
        ("-subject", ["a", "c", "b"]),
        ("opened", ["c", "a", "b"]),
        ("-opened", ["b", "a", "c"]),
    ],
)
def test_rule_page_sorts(user_client: Client, sort: str, wanted: list[str]):
    now = timezone.now()
    for host, subject, days in (("a", "zeta", 2), ("b", "alpha", 1), ("c", "mid", 3)):
        FindingFactory(
            host=HostFactory(name=host),
            rule_id=RULE,
            subject_name=subject,
            opened_at=now - timezone.timedelta(days=days),
        )
    assert row_hosts(html_of(user_client, rule_url(), {"sort": sort})) == wanted


def test_htmx_gets_the_table_alone_with_shareable_links(user_client: Client):
    FindingFactory(host=HostFactory(name="web1", labels={"env": "prod"}), rule_id=RULE)

    html = html_of(user_client, rule_url(), {"label": "env=prod"}, hx_request="true")

    assert html.lstrip().startswith('<section id="findings"')
    assert "<html" not in html and "Why it matters" not in html
    assert row_hosts(html) == ["web1"]
    # Every htmx link is also a plain link to the same URL.
    for link in re.findall(r"<a [^>]*hx-get=[^>]*>", html):
        assert re.search(r'href="([^"]*)"[^>]*hx-get="\1"', link), link
    assert 'href="?label=env%3Dprod&amp;sort=-host"' in html


def test_full_page_has_the_filter_form_wired_to_the_table(user_client: Client):
    FindingFactory(host=HostFactory(name="web1"), rule_id=RULE)
    html = html_of(user_client, rule_url())
    assert f'<form class="filters" method="get" action="{rule_url()}"' in html
    assert 'hx-target="#findings"' in html and 'hx-push-url="true"' in html


# --- Containers ------------------------------------------------------------------------------


def test_container_page_on_its_host(user_client: Client):
    host = HostFactory(name="web1")
    container(host, 1, "payments")
    FindingFactory(host=host, rule_id=RULE, subject_key=cid(1), subject_name="payments")
    FindingFactory(host=host, rule_id="CTR-USER", subject_key=cid(2), subject_name="other")

    html = html_of(user_client, reverse("container-detail", args=["web1", cid(1)]))

    assert 'href="/rules/CTR-PRIVILEGED/"' in html and "CTR-USER" not in html
    assert '<code class="evidence-field"><bdi>HostConfig.Privileged</bdi></code>' in html
    assert 'href="/images/nginx:1.27/"' in html
    assert f'href="/images/{NGINX_ID}/"' in html
    assert 'href="/containers/?name=payments"' in html
    assert 'href="/hosts/web1/"' in html


@pytest.mark.parametrize(
    "host, container_id",
    [
        ("web1", "x" * 64),  # not hex
        ("web1", cid(1)[:12]),  # short ids are not looked up
        ("web1", "A" * 64),  # upper case
        ("web1", cid(9)),  # unknown
        ("nohost", cid(1)),
    ],
)
def test_container_page_404s(user_client: Client, host: str, container_id: str):
    container(HostFactory(name="web1"), 1, "payments")
    url = reverse("container-detail", args=[host, container_id])
    assert user_client.get(url).status_code == 404


def test_container_page_from_findings_alone(user_client: Client):
    # The inventory row may be gone while a finding stays open until the next scan.
    host = HostFactory(name="web1")
    FindingFactory(host=host, rule_id=RULE, subject_key=cid(5), subject_name="gone")
    html = html_of(user_client, reverse("container-detail", args=["web1", cid(5)]))
    assert "gone" in html


def test_containers_of_a_name_across_the_fleet(user_client: Client):
    for n in (1, 2, 3):
        host = HostFactory(name=f"web{n}")
        container(host, n, "payments" if n < 3 else "billing")
        name = "payments" if n < 3 else "billing"
        FindingFactory(host=host, rule_id=RULE, subject_key=cid(n), subject_name=name)

    html = html_of(user_client, reverse("containers"), {"name": "payments"})

    assert row_hosts(html) == ["web1", "web2", "web1", "web2"]  # running on, then findings
    assert f'href="/hosts/web2/containers/{cid(2)}/"' in html
    assert 'href="/images/nginx:1.27/"' in html
    assert 'href="/rules/CTR-PRIVILEGED/"' in html
    assert "web3" not in html
    # Links of the table keep the page's own parameter.
    assert 'href="?name=payments&amp;sort=-host"' in html
    assert '<input type="hidden" name="name" value="payments">' in html


@pytest.mark.parametrize("params", [{"name": "nobody"}, {"name": "x" * 300}])
def test_containers_page_404s(user_client: Client, params: dict[str, str]):
    container(HostFactory(name="web1"), 1, "payments")
    assert user_client.get(reverse("containers"), params).status_code == 404


# --- Images ----------------------------------------------------------------------------------


def image_fleet() -> None:
    """web1 holds nginx and runs a container of it; web2 runs one by reference only; web3 holds
    redis, whose findings must stay off nginx's page."""
    web1, web2, web3 = (HostFactory(name=n) for n in ("web1", "web2", "web3"))
    image(web1)
    image(web3, REDIS_ID, ["redis:7"])
    container(web1, 1, "front")
    container(web2, 2, "edge", image_id="sha256:" + "c" * 64, ref="nginx:1.27")
    container(web3, 3, "cache", image_id=REDIS_ID, ref="redis:7")
    FindingFactory(
        host=web1,
        rule_id=IMAGE_RULE,
        subject_kind="image",
        subject_key=NGINX_ID,
        subject_name="nginx:1.27",
        evidence=[{"field": "Config.User", "value": ""}],
    )
    FindingFactory(host=web1, rule_id=RULE, subject_key=cid(1), subject_name="front")
    FindingFactory(host=web2, rule_id=RULE, subject_key=cid(2), subject_name="edge")
    FindingFactory(host=web3, rule_id=RULE, subject_key=cid(3), subject_name="cache")
    FindingFactory(
        host=web3, rule_id=IMAGE_RULE, subject_kind="image", subject_key=REDIS_ID, subject_name="r"
    )


def test_image_page_by_reference_shows_hosts_and_findings_on_image_and_containers(
    user_client: Client,
):
    image_fleet()

    html = html_of(user_client, reverse("image-detail", args=["nginx:1.27"]))
    hosts = row_hosts(html)

    assert hosts[:2] == ["web1", "web2"]  # hosts holding or running it
    assert sorted(hosts[2:]) == ["web1", "web1", "web2"]  # image finding, two containers
    assert "web3" not in html and "cache" not in html
    assert f'href="/hosts/web1/containers/{cid(1)}/"' in html
    assert f'href="/hosts/web2/containers/{cid(2)}/"' in html
    assert 'href="/rules/IMG-ROOT-USER/"' in html
    assert "nginx:latest" in html  # its other tag


def test_image_page_by_id_and_by_other_tag(user_client: Client):
    image_fleet()

    by_id = html_of(user_client, reverse("image-detail", args=[NGINX_ID]))
    bare = html_of(user_client, reverse("image-detail", args=["a" * 64]))
    by_tag = html_of(user_client, reverse("image-detail", args=["nginx:latest"]))

    # By id: web1 holds it and runs "front"; web2's container runs another id.
    assert row_hosts(by_id)[:1] == ["web1"] and "web2" not in by_id
    assert rows(by_id) == 2
    assert rows(bare) == 2
    assert row_hosts(by_tag)[:1] == ["web1"] and rows(by_tag) == 2


def test_image_page_filters_by_kind(user_client: Client):
    image_fleet()
    url = reverse("image-detail", args=["nginx:1.27"])
    assert rows(html_of(user_client, url, {"kind": "image"})) == 1
    assert rows(html_of(user_client, url, {"kind": "container"})) == 2


def test_image_tags_match_exactly(user_client: Client):
    image(HostFactory(name="web1"), tags=["nginx:Edge"])
    assert user_client.get(reverse("image-detail", args=["nginx:Edge"])).status_code == 200
    # SQLite's LIKE ignores case; the page must not.
    assert user_client.get(reverse("image-detail", args=["nginx:edge"])).status_code == 404


@pytest.mark.parametrize(
    "ref",
    [
        "<script>alert(1)</script>",
        "sha256:" + "g" * 64,
        "sha256:abc",
        "../../etc/passwd",
        "nginx:1.27 OR 1=1",
        "a" * 300,
        "nginx:latest\u202e",
        "unknown:1.0",
        "sha256:" + "f" * 64,
    ],
)
def test_image_page_404s_for_malformed_and_unknown(user_client: Client, ref: str):
    image_fleet()
    assert user_client.get(reverse("image-detail", args=[ref])).status_code == 404


# --- Hostile names, everywhere ---------------------------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>",
    "\"'><img src=x onerror=alert(2)>",
    "evil\u202egnp.exe",
    "x" * 10_000,
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_escaped_on_every_page(user_client: Client, name: str):
    # Names are stored cut to their column's length (findings.store); evidence values whole.
    value, name = name, name[:255]
    host = HostFactory(name="web1", labels={"env": name, "team": "<b>"})
    image(host, tags=["nginx:1.27"])
    Container.objects.create(
        host=host, container_id=cid(1), name=name, image_id=NGINX_ID, image_ref=name, digest="d"
    )
    FindingFactory(
        host=host,
        rule_id=RULE,
        subject_key=cid(1),
        subject_name=name,
        evidence=[{"field": "HostConfig.Privileged", "value": value}],
    )
    FindingFactory(
        host=host,
        rule_id=IMAGE_RULE,
        subject_kind="image",
        subject_key=NGINX_ID,
        subject_name="nginx:1.27",
        evidence=[{"field": value, "value": value}],
    )
    HostPostureFactory(host=host)

    pages = [
        (rule_url(), {}),
        (rule_url(), {"q": value[:200]}),
        (reverse("container-detail", args=["web1", cid(1)]), {}),
        (reverse("containers"), {"name": name}),
        (reverse("image-detail", args=[NGINX_ID]), {}),
        (reverse("host-detail", args=["web1"]), {}),
    ]
    for url, params in pages:
        html = html_of(user_client, url, params)
        assert "<script>alert" not in html, url
        assert "<img src=x" not in html, url
        assert "<b>" not in html, url
        assert not INLINE_SCRIPT.search(html), url
        assert not INLINE_STYLE.search(html), url
        # Outside attribute values (where the name sits escaped, e.g. a title): no handler.
        assert not EVENT_HANDLER.search(re.sub(r'"[^"]*"', '""', html)), url
        if "\u202e" in name and url != "/hosts/web1/":
            assert_isolated(html, "\u202e", url)


def assert_isolated(html: str, char: str, url: str) -> None:
    """Each occurrence of `char` is in an attribute, or in text whose element is a <bdi> (so
    a bidi override cannot reorder the page around it) or the document's <title>."""
    for hit in re.finditer(char, html):
        before = html[: hit.start()]
        lt, gt = before.rfind("<"), before.rfind(">")
        if lt > gt:
            continue  # inside a tag: an attribute value
        tag = before[before.rfind("<", 0, gt) : gt + 1]
        assert tag in ("<bdi>", "<title>"), (url, tag, before[-80:])


def test_host_page_links_subjects_to_their_pages(user_client: Client):
    host = HostFactory(name="web1")
    HostPostureFactory(host=host)
    FindingFactory(host=host, rule_id=RULE, subject_name="payments")
    FindingFactory(host=host, rule_id=RULE, subject_key=cid(7), subject_name="billing")
    FindingFactory(
        host=host,
        rule_id=IMAGE_RULE,
        subject_kind="image",
        subject_key=NGINX_ID,
        subject_name="nginx:1.27",
    )
    FindingFactory(
        host=host,
        rule_id="CTR-USER",
        subject_kind="image",
        subject_key=REDIS_ID,
        subject_name="not a <reference>",
    )

    html = html_of(user_client, reverse("host-detail", args=["web1"]))

    assert 'href="/containers/?name=payments"' in html
    # A container with a well-formed id: its own page on this host, and its name fleet-wide.
    assert f'href="/hosts/web1/containers/{cid(7)}/"' in html
    assert 'href="/containers/?name=billing"' in html
    assert 'href="/images/nginx:1.27/"' in html
    assert "not a &lt;reference&gt;" in html  # shown, but no link to a page that cannot be


@pytest.mark.parametrize(
    "url",
    [
        "/hosts/web1/containers/" + "0" * 64 + "/",
        "/containers/?name=x",
        "/images/nginx:1.27/",
    ],
)
def test_subject_pages_need_a_login(client: Client, url: str):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- Query counts ----------------------------------------------------------------------------


def grow(hosts: range, findings_per_host: int) -> None:
    """Hosts with labels, each holding nginx, running a "payments" container from it, and
    failing RULE on it `findings_per_host` times (other subjects) plus the image rule."""
    for i in hosts:
        host = HostFactory(name=f"h{i:03d}", labels={"env": "prod" if i % 2 else "dev"})
        HostPostureFactory(host=host)
        image(host)
        container(host, 10_000 + i, "payments")
        FindingFactory(
            host=host, rule_id=RULE, subject_key=cid(10_000 + i), subject_name="payments"
        )
        FindingFactory(
            host=host,
            rule_id=IMAGE_RULE,
            subject_kind="image",
            subject_key=NGINX_ID,
            subject_name="nginx:1.27",
        )
        for n in range(findings_per_host - 2):
            FindingFactory(host=host, rule_id=RULE, subject_name="payments", severity=n % 2 + 3)


PAGES = [
    ("rule", lambda: rule_url(), {}),
    ("rule-filtered", lambda: rule_url(), {"label": "env=prod", "q": "pay", "sort": "-opened"}),
    ("rule-page-2", lambda: rule_url(), {"page": "2"}),
    ("containers", lambda: reverse("containers"), {"name": "payments", "label": "env=prod"}),
    ("image-ref", lambda: reverse("image-detail", args=["nginx:1.27"]), {}),
    ("image-id", lambda: reverse("image-detail", args=[NGINX_ID]), {"kind": "container"}),
    ("container", lambda: reverse("container-detail", args=["h001", cid(10_001)]), {}),
]


def count_queries(client: Client, url: str, params: dict[str, str], htmx: bool) -> int:
    headers = {"hx-request": "true"} if htmx else {}
    # Once unmeasured: the rule's pass rate is summed on a cache miss only
    # (findings.tallies), and whether the first request misses depends on the tests before.
    client.get(url, params, headers=headers)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, params, headers=headers).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("name, url, params", PAGES, ids=[p[0] for p in PAGES])
def test_query_count_does_not_grow_with_the_fleet(
    user_client: Client, name: str, url: Any, params: dict[str, str], htmx: bool
):
    # GIVEN 3 hosts with 10 findings in all, WHEN the fleet grows to 30 hosts and ~200
    # findings, THEN each page runs the same statements.
    grow(range(3), 4)
    small = count_queries(user_client, url(), params, htmx)

    grow(range(3, 30), 7)
    large = count_queries(user_client, url(), params, htmx)

    assert large == small, name
    # session, user, the account's role and teams (read on every request, so that a revoked
    # role takes effect at once), totals, the page, the accepted group; rule: severities,
    # pass rate. A whole page adds the header's fleet counters (base.html: two).
    fragment = htmx and name != "container"  # the container page has no partial
    assert small <= (8 if fragment else 10), name
