"""The API's rows of the access matrix (tests/access/test_access_matrix.py walks the
resolver; every URL named `api-…` must have a row here).

Add a row per route: its arguments, built from the matrix's world (team pay owns host
pay-1 and what hangs off it; team web owns web-1), and whose object it is. Each route is
then called with GET, POST, PUT, PATCH and DELETE by every account, once with a token of
the account's role and teams and once with its session; a 405 (the route takes no such
method) is skipped. Wanted: 401 anonymous, 403 the role lacks the permission, 404 the
object is another team's, anything else below 500 means the access checks let it through.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.test import Client
from django.urls import URLPattern, reverse

from access.models import Team
from access.policy import Policy
from access.roles import Role, grants
from api.tokens import issue
from scans.models import ScanRun

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class ApiRoute:
    # kwargs of reverse(), from the world (its .args of the pages' routes, or a lookup).
    args: Callable[[Any], dict[str, Any]] = lambda world: {}
    owner: str = ""  # "pay": the object is team pay's; "" : no object
    query: str = ""
    body: dict[str, Any] = field(default_factory=dict)  # JSON sent with writes


def _host(world: Any) -> dict[str, Any]:
    return {"name": "pay-1"}


def _scan(world: Any) -> dict[str, Any]:
    scan = ScanRun.objects.filter(host__name="pay-1").first()
    assert scan is not None, "the world has a scan of pay-1"
    return {"pk": scan.pk}


def _exception(world: Any) -> dict[str, Any]:
    return {"pk": world.args["exception-revoke"]["pk"]}  # on host pay-1


API_ROUTES: dict[str, ApiRoute] = {
    # api-core: the schema and its page.
    "api-schema": ApiRoute(),
    "api-docs": ApiRoute(),
    # api-core: hosts, scans, posture, rules. A write with {} is refused by the host form
    # (400) once the checks let it through; PATCH {} changes nothing.
    "api-hosts": ApiRoute(),
    "api-host": ApiRoute(args=_host, owner="pay"),
    "api-host-scans": ApiRoute(args=_host, owner="pay"),
    "api-host-posture": ApiRoute(args=_host, owner="pay"),
    "api-scan": ApiRoute(args=_scan, owner="pay"),
    "api-rules": ApiRoute(),
    "api-rule": ApiRoute(args=lambda world: {"rule_id": "CTR-PRIVILEGED"}),
    # api-data: findings, exceptions, vulnerabilities, trends, uploads, SARIF.
    "api-findings": ApiRoute(),
    "api-host-sarif": ApiRoute(args=_host, owner="pay"),
    "api-exceptions": ApiRoute(),  # a write with {} is refused by the form: 400, let through
    "api-exception": ApiRoute(args=_exception, owner="pay"),
    "api-exception-revoke": ApiRoute(args=_exception, owner="pay"),
    "api-vulnerabilities": ApiRoute(),
    "api-host-vulnerabilities": ApiRoute(args=_host, owner="pay"),
    "api-host-images": ApiRoute(args=_host, owner="pay"),
    # The world's inventory (LAYERS_KEY), run by pay-1 only.
    "api-inventory-vulnerabilities": ApiRoute(args=lambda world: {"key": "k" * 64}, owner="pay"),
    "api-uploads": ApiRoute(),  # {} is no Trivy report: 400 once the checks let it through
    "api-trends-fleet": ApiRoute(),
    "api-trends-teams": ApiRoute(),
    # inventory: host import and export ({} is no inventory: 400 once the checks let it through).
    "api-inventory": ApiRoute(),
}


def implemented(pattern: URLPattern) -> list[str]:
    """The methods the view has a handler for: the others answer 405 to everyone allowed
    past the checks, which tells nothing (anonymous calls still get their 401 on GET)."""
    view = getattr(pattern.callback, "cls", None)
    if view is None:
        return list(METHODS)
    return [m for m in METHODS if hasattr(view, m.lower())]


def expected(policy: Policy, account: Any, method: str, route: ApiRoute) -> str:
    if policy.kind == "public":
        return "ok"
    if account.role is None:
        return "unauthenticated"
    if policy.kind == "perm":
        wanted = policy.perm_for(method)
        if wanted is None or not grants(account.role, wanted):
            return "forbidden"
    if route.owner and not account.sees_team(route.owner):
        return "notfound"
    return "ok"


def outcome(status: int) -> str:
    return {401: "unauthenticated", 403: "forbidden", 404: "notfound", 405: "method"}.get(
        status, "error" if status >= 500 else "ok"
    )


def _tokens(world: Any, accounts: list[Any]) -> dict[str, str]:
    teams = {t.label: t for t in Team.objects.all()}
    return {
        a.name: issue(
            creator=world.users[a.name],
            name="matrix",
            role=Role(a.role),
            teams=[teams[t] for t in a.teams],
            days=1,
        ).secret
        for a in accounts
        if a.role is not None
    }


def api_matrix_failures(
    name: str, pattern: URLPattern, policy: Policy, world: Any, accounts: list[Any], settings: Any
) -> list[str]:
    route = API_ROUTES.get(name)
    if route is None:
        return [f"{name}: add a row to tests/access/api_matrix.py's API_ROUTES"]
    settings.POSTURE_API = {**settings.POSTURE_API, "RATE": "100000/min"}
    # Token-use counts in memory: the file cache's writes would be most of the test's time.
    local = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": name}
    settings.CACHES = {**settings.CACHES, "api": local}
    kwargs = route.args(world)
    if pattern.pattern.converters and not kwargs:
        return [f"{name}: its row gives no arguments"]
    url = reverse(name, kwargs=kwargs) + route.query
    if not url.startswith("/api/"):
        return [f"{name}: named api-… but not under /api/ ({url})"]
    tokens = _tokens(world, accounts)
    methods = implemented(pattern)
    wrong = []
    for account in accounts:
        for via in ("token", "session"):
            client = Client()
            headers: dict[str, str] = {}
            if account.role is not None and via == "token":
                headers["HTTP_AUTHORIZATION"] = f"Bearer {tokens[account.name]}"
            elif account.role is not None:
                client.force_login(world.users[account.name])
            elif via == "session":
                continue  # anonymous: once is enough
            for method in methods:
                with transaction.atomic():
                    response = client.generic(
                        method,
                        url,
                        data=json.dumps(route.body) if method != "GET" else "",
                        content_type="application/json",
                        **headers,
                    )
                    transaction.set_rollback(True)
                want, got = expected(policy, account, method, route), outcome(response.status_code)
                if got == "method" and want != "unauthenticated":
                    continue
                if want != got:
                    wrong.append(
                        f"{method} {url} as {account.name} via {via}: "
                        f"{got} ({response.status_code}), want {want}"
                    )
    return wrong
