"""The alerts page's recent messages say what happened, on which host, about which rule, in
words: regression, recovery, unreachable, digest; and no more than the account sees now."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from access.models import Team
from access.scope import Scope as AccessScope
from access.services import set_role
from alerts import services
from alerts.models import Notification, Subscription
from alerts.recent import recent_messages
from findings.models import Finding
from hosts.models import Host
from lab.smtp import LabSmtp
from tests.alerts.helpers import Scans, privileged
from tests.factories import HostFactory

pytestmark = pytest.mark.django_db


def rows(html: str) -> list[str]:
    """The recent messages table's rows as text, cell by cell."""
    table = html.split("Recent messages", 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    cells = [
        " | ".join(" ".join(c.split()) for c in row.split("</td>")[:-1])
        for row in body.split("</tr>")[:-1]
    ]
    return [_text(c) for c in cells]


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).replace("&gt;", ">")


def test_a_regression_and_its_recovery_name_host_and_rule(
    client: Client, host: Host, subscriber: Any, scans: Scans, lab_smtp: LabSmtp
) -> None:
    scans.success(host, opened=[privileged("web")])
    finding = Finding.objects.get(host=host, rule_id="CTR-PRIVILEGED")
    scans.success(host, resolved=[finding])
    scans.failure(host), scans.failure(host), scans.failure(host)
    lab_smtp.wait_for(3)

    client.force_login(subscriber)
    table = rows(client.get(reverse("alerts")).content.decode())
    assert [r.split(" | ", 1)[1] for r in table] == [
        "Unreachable | pay-1 | 3 failed scans in a row | Sent",
        "Recovery | pay-1 | CTR-PRIVILEGED on web | Sent",
        "Regression | pay-1 | CTR-PRIVILEGED on web | Sent",
    ]
    assert (
        f'href="{reverse("host-detail", args=["pay-1"])}"'
        in client.get(reverse("alerts")).content.decode()
    )


def test_a_digest_says_how_many_changes_on_which_hosts(
    host: Host, subscriber: Any, scans: Scans
) -> None:
    Subscription.objects.filter(user=subscriber).update(delivery=Subscription.Delivery.DIGEST)
    other = HostFactory(name="pay-2", labels={"team": "payments"})
    scans.success(host, opened=[privileged("web")])
    scans.success(other, score=50, opened=[privileged("db")])
    Notification.objects.filter(status=Notification.Status.HELD).update(release_at=timezone.now())
    services.send_due()

    [digest, *folded] = recent_messages(subscriber.pk, AccessScope.everything())
    assert (digest.kind, digest.about, digest.hosts) == ("Digest", "2 changes", ["pay-1", "pay-2"])
    assert [(m.kind, m.host) for m in folded] == [("Regression", "pay-2"), ("Regression", "pay-1")]


def test_a_host_that_left_the_accounts_teams_is_not_named(
    client: Client, host: Host, subscriber: Any, scans: Scans
) -> None:
    pay = Team.objects.create(name="Payments", label="payments")
    set_role(subscriber, "operator", [pay])
    scans.success(host, opened=[privileged("web")])
    Host.objects.filter(pk=host.pk).update(labels={"team": "web"})

    client.force_login(subscriber)
    html = client.get(reverse("alerts")).content.decode()
    [row] = rows(html)
    assert "a host outside your teams" in row
    assert "pay-1" not in row and "CTR-PRIVILEGED" not in row


def test_the_page_costs_the_same_with_digests(client: Client, subscriber: Any) -> None:
    def page() -> int:
        with CaptureQueriesContext(connection) as ctx:
            client.get(reverse("alerts"))
        return len(ctx.captured_queries)

    client.force_login(subscriber)
    kinds = ["digest", "finding", "recovery"]
    Notification.objects.bulk_create(
        Notification(user=subscriber, kind=k, to="ops@example.org") for k in kinds
    )
    few = page()
    Notification.objects.bulk_create(
        Notification(user=subscriber, kind=k, to="ops@example.org") for k in kinds * 5
    )
    assert page() == few
