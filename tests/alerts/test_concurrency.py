"""Two workers racing on the same row never send the same mail twice: every send starts
with a compare-and-set claim (an event's processed_at, a notification's status)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from alerts import services
from alerts.detect import detect
from alerts.models import Event, Notification, Regression, Subscription
from findings.models import Finding
from lab.smtp import LabSmtp
from scans.models import ScanRun
from tests.factories import FindingFactory, HostFactory, ScanRunFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def race(worker: Callable[[], object], count: int = 2) -> list[object]:
    barrier = threading.Barrier(count)
    results: list[object] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(worker())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def baseline(host: Any) -> None:
    # A host's first picture alerts on nothing: these hosts were scanned before.
    ScanRunFactory(host=host, score=70, requested_at=timezone.now() - timedelta(hours=1))


def new_event() -> Event:
    host = HostFactory(name="race-1")
    baseline(host)
    scan = ScanRunFactory(host=host, status=ScanRun.Status.SUCCEEDED, score=70)
    FindingFactory(host=host, opened_scan=scan)
    [event] = detect(scan)
    return event


def test_two_workers_processing_one_event_send_one_mail(lab_smtp: LabSmtp) -> None:
    Subscription.objects.create(user=UserFactory(email="a@example.org"))
    event = new_event()
    results = race(lambda: services.process_event(event.pk))
    assert sorted(results) == [0, 1]  # type: ignore[type-var]
    lab_smtp.wait_for(1)
    time.sleep(0.5)  # a second mail, if any, would have arrived by now
    assert len(lab_smtp.messages) == 1
    assert Notification.objects.get().status == Notification.Status.SENT


def test_two_senders_on_one_notification_send_once(lab_smtp: LabSmtp) -> None:
    user = UserFactory(email="b@example.org")
    event = new_event()
    n = Notification.objects.create(user=user, event=event, kind="finding", to=user.email)
    results = race(lambda: services.send_notification(n.pk), count=4)
    assert sorted(results) == [False, False, False, True]  # type: ignore[type-var]
    lab_smtp.wait_for(1)
    time.sleep(0.5)
    assert len(lab_smtp.messages) == 1


def test_two_digest_sweeps_fold_each_message_once(lab_smtp: LabSmtp) -> None:
    user = UserFactory(email="c@example.org")
    Subscription.objects.create(user=user, delivery=Subscription.Delivery.DIGEST)
    for n in range(10):
        host = HostFactory(name=f"fold-{n}")
        baseline(host)
        scan = ScanRunFactory(host=host)
        FindingFactory(host=host, opened_scan=scan)
        for event in detect(scan):
            services.process_event(event.pk)
    later = timezone.now() + timedelta(days=1, minutes=1)
    results: list[Any] = race(lambda: services.send_due(later))
    assert sum(results) >= 1
    mails = lab_smtp.wait_for(sum(results))
    time.sleep(0.5)
    assert len(lab_smtp.messages) == sum(results)
    # However the two sweeps split the work, each message is in exactly one digest.
    folded = Notification.objects.filter(status=Notification.Status.FOLDED)
    assert folded.count() == 10
    assert sum(m.get_body(("plain",)).get_content().count("CTR-PRIVILEGED") for m in mails) == 10


def test_two_receivers_for_one_scan_open_and_close_once() -> None:
    """GIVEN a scan that redeployed one container, fixed another and started a third
    WHEN the receiver runs twice for it at once
    THEN one opening and one recovery in all, and the redeployed regression unchanged."""
    host = HostFactory(name="race-2")
    baseline(host)
    first = ScanRunFactory(host=host)
    web, db = (FindingFactory(host=host, opened_scan=first, subject_name=n) for n in ("web", "db"))
    detect(first)
    scan = ScanRunFactory(host=host)
    Finding.objects.filter(pk__in=[web.pk, db.pk]).update(
        resolved_at=scan.finished_at, resolved_scan=scan
    )
    for name in ("web", "api"):
        FindingFactory(host=host, opened_scan=scan, subject_name=name)

    results: list[Any] = race(lambda: [e.phase for e in detect(scan)])

    assert len(results) == 2  # neither failed
    assert sorted(p for phases in results for p in phases) == ["opened", "recovered"]
    assert Event.objects.count() == 4
    assert Regression.objects.open().count() == 2
