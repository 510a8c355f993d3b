"""A small fleet of two teams and one host of no team, and one account per role, for the
tests of what each account sees (tests/findings/test_scope*.py, tests/fleet/test_scope*.py).

    pay-1, pay-2   team=pay     each runs "shop" from nginx, fails CTR-PRIVILEGED on it
    web-1          team=web     runs "shop" from nginx, fails CTR-PRIVILEGED on it
    lone           no team      holds redis, fails IMG-ROOT-USER on it

Who sees what (access.roles): admin, security and viewer the whole fleet; security-web
and viewer-web web-1 only; operator-pay pay-1 and pay-2 only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.test import Client

from access.models import Team
from findings.models import Container, Image
from hosts.models import Host
from tests.factories import FindingFactory, HostFactory, HostPostureFactory, UserFactory

NGINX_ID = "sha256:" + "a" * 64
REDIS_ID = "sha256:" + "b" * 64
RULE = "CTR-PRIVILEGED"
IMAGE_RULE = "IMG-ROOT-USER"
ALL = {"pay-1", "pay-2", "web-1", "lone"}
SEES = {
    "admin": ALL,
    "security": ALL,
    "viewer": ALL,
    "security-web": {"web-1"},
    "viewer-web": {"web-1"},
    "operator-pay": {"pay-1", "pay-2"},
}
ROLES = tuple(SEES)


def cid(n: int) -> str:
    return f"{n:064x}"


@dataclass
class Fleet:
    hosts: dict[str, Host] = field(default_factory=dict)
    users: dict[str, AbstractBaseUser] = field(default_factory=dict)
    containers: dict[str, str] = field(default_factory=dict)  # host name -> container id

    def client(self, role: str) -> Client:
        client = Client()
        client.force_login(self.users[role])
        return client


def build() -> Fleet:
    fleet = Fleet()
    pay = Team.objects.create(name="Payments", label="pay")
    web = Team.objects.create(name="Web", label="web")
    labels = {"pay-1": "pay", "pay-2": "pay", "web-1": "web", "lone": None}
    summary = {RULE: {"pass": 0, "fail": 1, "na": 0, "unknown": 0, "manual": 0}}
    for n, (name, team) in enumerate(labels.items()):
        host = HostFactory(name=name, labels={"env": "prod", **({"team": team} if team else {})})
        fleet.hosts[name] = host
        if team:
            HostPostureFactory(host=host, rule_summary=summary)
            Image.objects.create(host=host, image_id=NGINX_ID, name="nginx:1.27", digest="d")
            Container.objects.create(
                host=host,
                container_id=cid(n),
                name="shop",
                image_id=NGINX_ID,
                image_ref="nginx:1.27",
                state="running",
                digest="d",
            )
            fleet.containers[name] = cid(n)
            FindingFactory(host=host, rule_id=RULE, subject_key=cid(n), subject_name="shop")
        else:
            HostPostureFactory(host=host)
            Image.objects.create(host=host, image_id=REDIS_ID, name="redis:7", digest="d")
            FindingFactory(
                host=host,
                rule_id=IMAGE_RULE,
                subject_kind="image",
                subject_key=REDIS_ID,
                subject_name="redis:7",
            )
    fleet.users = {
        "admin": UserFactory(username="admin", role="admin"),
        "security": UserFactory(username="security", role="security"),
        "security-web": UserFactory(username="security-web", role="security", role__teams=[web]),
        "operator-pay": UserFactory(username="operator-pay", role="operator", role__teams=[pay]),
        "viewer": UserFactory(username="viewer", role="viewer"),
        "viewer-web": UserFactory(username="viewer-web", role="viewer", role__teams=[web]),
    }
    return fleet
