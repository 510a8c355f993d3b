"""Every URL of the resolver × every role (and anonymous, and another team's accounts) ×
GET and POST: the answer is what the URL's declared policy and its object's team say.

A URL without a declared policy fails here, and so does a URL with arguments that this
table cannot fill: adding a URL means saying who may use it. Objects belong to team `pay`
(host pay-1 and what hangs off it), so the accounts of team `web` must get 404 where the
role would otherwise be allowed (IDOR), never the object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from access.models import Team
from access.policy import Policy, policy_of
from access.roles import Perm, Role, grants
from alerts.models import Subscription
from api.tokens import issue
from findings.models import Container, Image
from policy.models import RuleOverride
from tests.access.api_matrix import api_matrix_failures
from tests.factories import (
    FindingFactory,
    HostFactory,
    HostPostureFactory,
    RiskExceptionFactory,
    UserFactory,
)
from trends.models import ReportSubscription
from vulndb.models import Advisory, AffectedPackage
from vulns.models import ImageInventory, ImageVulnerability, Package, VulnDecision

pytestmark = pytest.mark.django_db

CONTAINER_ID = "c" * 64
LAYERS_KEY = "k" * 64


@dataclass(frozen=True)
class Account:
    name: str
    role: str | None  # None: anonymous
    teams: tuple[str, ...] = ()

    def sees_team(self, team: str) -> bool:
        if self.role == Role.ADMIN:
            return True
        if self.role == Role.OPERATOR or self.teams:
            return team in self.teams
        return True


ACCOUNTS = [
    Account("anonymous", None),
    Account("admin", Role.ADMIN),
    Account("security", Role.SECURITY),
    Account("security-web", Role.SECURITY, ("web",)),
    Account("operator-pay", Role.OPERATOR, ("pay",)),
    Account("operator-web", Role.OPERATOR, ("web",)),  # another team's operator
    Account("viewer", Role.VIEWER),
    Account("viewer-web", Role.VIEWER, ("web",)),
]
OWNER = "viewer"  # owns the subscriptions below


@dataclass
class World:
    args: dict[str, dict[str, Any]]  # url name -> kwargs
    users: dict[str, Any]


def build_world() -> World:
    pay = Team.objects.create(name="Payments", label="pay")
    web = Team.objects.create(name="Web", label="web")
    teams = {"pay": pay, "web": web}
    users = {
        a.name: UserFactory(username=a.name, role=a.role, role__teams=[teams[t] for t in a.teams])
        for a in ACCOUNTS
        if a.role is not None
    }
    host = HostFactory(name="pay-1", labels={"team": "pay"})
    HostFactory(name="web-1", labels={"team": "web"})
    posture = HostPostureFactory(host=host)
    FindingFactory(host=host, opened_scan=posture.current_scan)
    Container.objects.create(host=host, name="api", digest="d", container_id=CONTAINER_ID)
    Image.objects.create(
        host=host,
        name="pay/api:1",
        digest="d",
        image_id="sha256:" + "b" * 64,
        layers_key=LAYERS_KEY,
    )
    inventory = ImageInventory.objects.create(key=LAYERS_KEY, status="assessed", read_from=host)
    Package.objects.create(inventory=inventory, ecosystem="Debian:12", name="libc6", version="1")
    now = timezone.now()
    advisory = Advisory.objects.create(id="DSA-5514-1", modified=now, group="CVE-2023-4911")
    AffectedPackage.objects.create(advisory=advisory, ecosystem="Debian:12", name="glibc")
    ImageVulnerability.objects.create(
        inventory=inventory,
        advisory_id="DSA-5514-1",
        vuln="CVE-2023-4911",
        package_name="libc6",
        installed_version="1",
    )
    decision = VulnDecision.objects.create(
        vuln="CVE-2023-4911",
        state="accepted",
        scope="fleet",
        reason="-",
        owner="ops",
        expires_at=now + timezone.timedelta(days=30),
    )
    exception = RiskExceptionFactory(host=host)
    override = RuleOverride.objects.create(
        rule_id="IMG-LATEST-TAG", host=host, action="disable", reason="-"
    )
    alert = Subscription.objects.create(user=users[OWNER], scope=Subscription.Scope.ALL)
    channel = Subscription.objects.create(
        user=users[OWNER], scope=Subscription.Scope.ALL, channel="slack", target_host="x.invalid"
    )
    report = ReportSubscription.objects.create(user=users[OWNER], period="week")
    token = issue(creator=users[OWNER], name="ci", role=Role.VIEWER, teams=[], days=1).token
    args: dict[str, dict[str, Any]] = {
        "host-detail": {"name": host.name},
        "host-status": {"name": host.name},
        "host-rule-subjects": {"name": host.name, "rule_id": "CTR-PRIVILEGED"},
        "host-scan": {"name": host.name},
        "host-edit": {"name": host.name},
        "host-delete": {"name": host.name},
        "container-detail": {"name": host.name, "container_id": CONTAINER_ID},
        "image-detail": {"ref": "pay/api:1"},
        "rule-detail": {"rule_id": "CTR-PRIVILEGED"},
        "vulnerability": {"vuln": "CVE-2023-4911"},
        "decision-revoke": {"vuln": "CVE-2023-4911", "pk": decision.pk},
        "image-inventory": {"key": LAYERS_KEY},
        "image-inventory-cyclonedx": {"key": LAYERS_KEY},
        "profile-delete": {"pk": override.pk},
        "exception-revoke": {"pk": exception.pk},
        "alert-delete": {"pk": alert.pk},
        "alert-channel-test": {"pk": channel.pk},
        "alert-edit": {"pk": alert.pk},
        "report-subscription-toggle": {"pk": report.pk},
        "report-subscription-delete": {"pk": report.pk},
    }
    for name in ("exception-approve", "exception-reject"):
        args[name] = {"pk": exception.pk}
    for name in ("override-approve", "override-reject"):
        args[name] = {"pk": override.pk}
    for name in ("user-edit",):
        args[name] = {"pk": users["operator-pay"].pk}
    args["team-edit"] = {"pk": pay.pk}
    args["token-revoke"] = {"pk": token.pk}
    args["service-token-revoke"] = {"pk": token.pk}
    # Public: a set-password link that is not valid answers its own page to anyone.
    args["welcome"] = {"uidb64": "MQ", "token": "not-a-token"}
    return World(args=args, users=users)


# What each object-taking URL's object belongs to: a host of team pay, or the OWNER account.
OBJECTS: dict[str, str] = {
    "host-detail": "pay",
    "host-status": "pay",
    "host-rule-subjects": "pay",
    "host-scan": "pay",
    "host-edit": "pay",
    "host-delete": "pay",
    "container-detail": "pay",
    "image-detail": "pay",
    "image-inventory": "pay",
    "image-inventory-cyclonedx": "pay",
    "exception-revoke": "pay",
    "exception-approve": "pay",
    "exception-reject": "pay",
    # A container search or a vulnerability that only team pay's hosts have: not found for
    # the others, like the image page.
    "containers": "pay",
    "vulnerability": "pay",
    "decision-revoke": "pay",
    # An override on host pay-1.
    "profile-delete": "pay",
    "override-approve": "pay",
    "override-reject": "pay",
    "alert-delete": "owner",
    "alert-channel-test": "owner",
    "alert-edit": "owner",
    "report-subscription-toggle": "owner",
    "report-subscription-delete": "owner",
    # An API token of the OWNER account (its own or one it issued; admins: service-token-…).
    "token-revoke": "owner",
}


# URLs that need a query to show anything (the containers list is a search by name).
QUERIES = {"containers": "?name=api"}


def our_patterns() -> Iterator[tuple[str, URLPattern, list[str]]]:
    """(name, pattern, namespaces) of every URL outside Django's admin site."""

    def walk(resolver: URLResolver, namespaces: list[str]) -> Iterator[Any]:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry, namespaces + ([entry.namespace] if entry.namespace else []))
            else:
                yield entry.name, entry, namespaces

    yield from walk(get_resolver(), [])


PATTERNS = [(n, p) for n, p, ns in our_patterns() if "admin" not in ns]
ADMIN_PATTERNS = [(n, p) for n, p, ns in our_patterns() if "admin" in ns]


def test_every_url_has_a_name_and_a_declared_policy() -> None:
    missing = [str(p.pattern) for n, p in PATTERNS if not n or policy_of(p.callback) is None]
    assert not missing, f"URLs without a name or an access policy (access.policy): {missing}"


CUSTOM: dict[str, Callable[[Account], bool]] = {
    # /metrics: a signed-in account needs metrics.view; anonymous callers need a token.
    # Its gauges are not split by team: a team-scoped account is refused.
    "metrics": lambda a: a.role is not None and grants(a.role, Perm.METRICS) and not a.teams,
}


def expected(name: str, policy: Policy, account: Account, method: str) -> str:
    """login | forbidden | notfound | ok"""
    if policy.kind == "public":
        return "ok"
    if policy.kind == "custom":
        return "ok" if CUSTOM[name](account) else "forbidden"
    if account.role is None:
        return "login"
    if policy.kind == "perm":
        wanted = policy.perm_for(method)
        assert wanted is not None
        if not grants(account.role, wanted):
            return "forbidden"
    owner = OBJECTS.get(name)
    if owner == "owner" and account.name != OWNER:
        return "notfound"
    if owner and owner != "owner" and not account.sees_team(owner):
        return "notfound"
    return "ok"


def outcome(response: Any) -> str:
    status = response.status_code
    if status == 302 and response["Location"].startswith(reverse("login")):
        return "login"
    if status in (401, 403):
        return "forbidden"
    if status == 404:
        return "notfound"
    if status == 405:
        return "method"  # the view takes no such method: nothing of the object was read
    return "ok"


@pytest.mark.parametrize("name", sorted({n for n, _ in PATTERNS if not n.startswith("api-")}))
def test_url_answers_each_account_as_declared(name: str) -> None:
    pattern = dict(PATTERNS)[name]
    policy = policy_of(pattern.callback)
    assert policy is not None
    world = build_world()
    kwargs = world.args.get(name, {})
    if pattern.pattern.converters and not kwargs:
        pytest.fail(f"{name}: add its arguments (and its object's owner) to this matrix")
    url = reverse(name, kwargs=kwargs) + QUERIES.get(name, "")
    wrong = []
    for account in ACCOUNTS:
        for method in ("GET", "POST"):
            client = Client()
            if account.role is not None:
                client.force_login(world.users[account.name])
            # Each request in a savepoint rolled back: a POST that deletes the host must
            # not change what the next account sees.
            with transaction.atomic():
                response = getattr(client, method.lower())(url)
                transaction.set_rollback(True)
            want, got = expected(name, policy, account, method), outcome(response)
            if got == "method" and want in ("ok", "notfound", "forbidden"):
                continue  # the view takes no such method: nothing was read or done
            if got == "login" and policy.kind == "public":
                continue  # signing out sends everyone to the login page
            if want != got:
                wrong.append(
                    f"{method} {url} as {account.name}: {got} ({response.status_code}), want {want}"
                )
    assert not wrong, "\n".join(wrong)


def test_the_admin_site_is_for_admins_only() -> None:
    world = build_world()
    for account in ACCOUNTS:
        client = Client()
        if account.role is not None:
            client.force_login(world.users[account.name])
        for name, pattern in ADMIN_PATTERNS:
            if pattern.pattern.regex.groups:
                continue  # object pages: same gate as the list pages
            url = reverse(f"admin:{name}") if name else None
            if url is None:
                continue
            status = client.get(url).status_code
            if account.role is None:
                assert status in (302, 200), (url, status)  # the admin's own login page
            elif account.role == Role.ADMIN:
                assert status not in (403, 404), (url, status)
            else:
                assert status == 403, (account.name, url, status)


# --- The REST API (issue 13): tests/access/api_matrix.py's API_ROUTES table ----------------
@pytest.mark.parametrize("name", sorted({n for n, _ in PATTERNS if n.startswith("api-")}))
def test_api_route_answers_each_account_as_declared(name: str, settings: Any) -> None:
    """Every method × every role, through a token of that role and through a session ×
    another team's object: 401, 403, 404 as the declaration and the object's team say."""
    pattern = dict(PATTERNS)[name]
    policy = policy_of(pattern.callback)
    assert policy is not None, f"{name}: no access policy"
    world = build_world()
    failures = api_matrix_failures(name, pattern, policy, world, ACCOUNTS, settings)
    assert not failures, "\n".join(failures)
