"""A worker killed after claiming a message loses nothing: the sweep takes back a claim older
than the lease and sends the message again, with the Message-ID any first copy carried; a
claim inside its lease is left to the worker that holds it, and two sweeps send once."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from alerts import emails, services
from alerts.models import Notification, Subscription
from lab.smtp import LabSmtp
from tests.alerts.test_concurrency import new_event, race
from tests.factories import UserFactory

Status = Notification.Status


def claimed(minutes_ago: float, kind: str = "finding", **fields: Any) -> Notification:
    """A row as a worker leaves it when it is killed right after its claim."""
    user = UserFactory(email="ops@example.org")
    if kind != Notification.DIGEST_KIND:
        fields.setdefault("event", new_event())
    at = timezone.now() - timedelta(minutes=minutes_ago)
    fields.setdefault("to", user.email)
    return Notification.objects.create(
        user=user,
        kind=kind,
        status=Status.SENDING,
        claimed_at=at,
        created_at=at,
        **fields,
    )


@pytest.mark.django_db
def test_a_message_claimed_by_a_dead_worker_is_sent_once_with_its_message_id(
    lab_smtp: LabSmtp,
) -> None:
    n = claimed(minutes_ago=11)
    assert services.send_due() == 1
    [mail] = lab_smtp.wait_for(1)
    assert mail["Message-ID"] == emails.message_id(n)
    assert mail["Message-ID"].startswith(f"<alert-{n.pk}.")
    n.refresh_from_db()
    assert n.status == Status.SENT
    assert services.send_due() == 0  # sent: nothing to take back any more
    time.sleep(0.3)
    assert len(lab_smtp.messages) == 1


@pytest.mark.django_db
def test_every_send_of_one_row_carries_the_same_message_id(lab_smtp: LabSmtp) -> None:
    # A kill between SMTP's acceptance and the commit: the first copy went, the row says
    # "sending". The copy the sweep sends must be one a mail system can drop.
    n = claimed(minutes_ago=11)
    emails.single(n, "en").send()
    services.send_due()
    first, second = lab_smtp.wait_for(2)
    assert first["Message-ID"] == second["Message-ID"] == emails.message_id(n)


@pytest.mark.django_db
def test_a_claim_inside_its_lease_is_left_to_its_worker(lab_smtp: LabSmtp) -> None:
    n = claimed(minutes_ago=5)  # a slow SMTP server, a worker still sending
    assert services.send_due() == 0
    n.refresh_from_db()
    assert n.status == Status.SENDING
    time.sleep(0.3)
    assert lab_smtp.messages == []


@pytest.mark.django_db
def test_a_digest_claimed_by_a_dead_worker_is_sent_with_what_it_folded(lab_smtp: LabSmtp) -> None:
    digest = claimed(minutes_ago=11, kind=Notification.DIGEST_KIND)
    held = Notification.objects.create(
        user=digest.user, event=new_event(), kind="finding", to=digest.to, status=Status.FOLDED
    )
    Notification.objects.filter(pk=held.pk).update(digest=digest)
    assert services.send_due() == 1
    [mail] = lab_smtp.wait_for(1)
    assert mail["Message-ID"] == emails.message_id(digest)
    assert "CTR-PRIVILEGED" in mail.get_body(("plain",)).get_content()


@pytest.mark.django_db
def test_a_digest_killed_before_it_folded_anything_is_dropped(lab_smtp: LabSmtp) -> None:
    claimed(minutes_ago=11, kind=Notification.DIGEST_KIND)
    assert services.send_due() == 0
    assert not Notification.objects.exists()
    time.sleep(0.3)
    assert lab_smtp.messages == []


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_racing_on_a_dead_claim_send_once(lab_smtp: LabSmtp) -> None:
    Subscription.objects.create(user=UserFactory(username="other", email="x@example.org"))
    n = claimed(minutes_ago=11)
    results: list[Any] = race(services.send_due, count=3)
    assert sorted(results) == [0, 0, 1]
    lab_smtp.wait_for(1)
    time.sleep(0.5)
    assert len(lab_smtp.messages) == 1
    n.refresh_from_db()
    assert n.status == Status.SENT


@pytest.mark.django_db
def test_a_channel_message_claimed_by_a_dead_worker_is_posted_once(settings: Any) -> None:
    from tests.alerts.receiver import receiver
    from tests.alerts.test_channels import subscribe

    settings.POSTURE_ALLOWED_TARGETS = "127.0.0.0/8"
    with receiver() as slack:
        sub = subscribe(UserFactory(username="chan", email=""), "slack", slack.url)
        n = claimed(minutes_ago=11, subscription=sub, to="")
        empty = claimed(minutes_ago=11, kind=Notification.DIGEST_KIND, subscription=sub, to="")
        assert services.send_due() == 1
        assert services.send_due() == 0
        assert len(slack.requests) == 1  # the message; the empty digest posts nothing
    n.refresh_from_db()
    assert n.status == Status.SENT
    assert not Notification.objects.filter(pk=empty.pk).exists()
