"""Scanning as plain functions: request a scan, run it, dispatch the hosts that are due.

Tasks and views call these; tests call them directly.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from hosts.models import Host
from posture.crypto import DecryptionError
from posture.rules import evaluate, score_host
from scans import profiles, store
from scans.signals import notify_finished
from scans.collect import collect
from scans.hostaccess import collect_host
from scans.models import ScanRun
from scans.transports import ErrorClass, Limits, ScanError, open_api

log = logging.getLogger(__name__)

# A queued scan whose message was lost (broker flushed, worker gone) is given up after this.
QUEUED_EXPIRY = timedelta(hours=1)


def expire_stale_scans(host: Host | None = None, limits: Limits | None = None) -> int:
    """Mark scans whose worker died as interrupted, so the host can be scanned again.

    A running scan cannot outlive its deadline plus a grace period: past that, the worker
    that held it was killed (SIGKILL, OOM, host reboot) and nothing will finish it.
    """
    limits = limits or Limits.from_settings()
    now = timezone.now()
    running_cutoff = now - timedelta(seconds=limits.deadline + 60)
    stale = ScanRun.objects.active().filter(
        status=ScanRun.Status.RUNNING, started_at__lt=running_cutoff
    ) | ScanRun.objects.active().filter(
        status=ScanRun.Status.QUEUED, requested_at__lt=now - QUEUED_EXPIRY
    )
    if host is not None:
        stale = stale.filter(host=host)
    count = 0
    for scan in stale.select_related("host"):
        store.store_failure(
            scan,
            ErrorClass.INTERRUPTED,
            "the worker stopped before the end",
            None,
            status=ScanRun.Status.INTERRUPTED,
        )
        scan.refresh_from_db()
        notify_finished(scan)
        count += 1
    return count


def request_scan(
    host: Host,
    trigger: str = ScanRun.Trigger.MANUAL,
    enqueue: bool = True,
    expire: bool = True,
) -> tuple[ScanRun, bool]:
    """Queue a scan of host; (scan, created). If one is already queued or running, that
    one is returned instead: one scan per host at a time. `expire=False` is for callers
    that have just swept stale scans for the whole fleet."""
    if expire:
        expire_stale_scans(host)
    try:
        with transaction.atomic():
            scan = ScanRun.objects.create(host=host, trigger=trigger)
    except IntegrityError:
        active = ScanRun.objects.active().filter(host=host).first()
        if active is None:  # finished between our insert and this read: try once more
            return request_scan(host, trigger, enqueue, expire)
        return active, False
    if enqueue:
        from scans.tasks import scan_host

        transaction.on_commit(lambda: scan_host.delay(scan.pk))
    return scan, True


def run_scan(scan_id: int, limits: Limits | None = None) -> ScanRun:
    """Run a queued scan to completion. Safe to call twice: only one caller claims it."""
    claimed = ScanRun.objects.filter(pk=scan_id, status=ScanRun.Status.QUEUED).update(
        status=ScanRun.Status.RUNNING, started_at=timezone.now()
    )
    scan = ScanRun.objects.select_related("host").get(pk=scan_id)
    if not claimed:
        return scan
    limits = limits or Limits.from_settings()
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        try:
            endpoint = scan.host.parsed_endpoint
            creds = scan.host.credentials()
        except ValidationError as exc:
            raise ScanError(ErrorClass.CONFIGURATION, " ".join(exc.messages)) from None
        except DecryptionError as exc:
            raise ScanError(ErrorClass.CONFIGURATION, str(exc)) from None
        with open_api(endpoint, creds, limits) as api:
            facts = collect(api)
            if api.ssh_client is not None:
                facts.host = collect_host(api.ssh_client, api.deadline)
        facts.transport = endpoint.transport.value
        evaluations = profiles.apply(evaluate(facts), profiles.effective(scan.host))
        score = score_host(evaluations)
        store.store_success(scan, facts, evaluations, score, elapsed(), api.api_version)
    except SoftTimeLimitExceeded:
        # Celery's soft limit sits above the scan deadline: reaching it means a read was
        # stuck outside the watchdog's reach.
        store.store_failure(
            scan, ErrorClass.TIMEOUT, "the worker's time limit was reached", elapsed()
        )
    except ScanError as exc:
        log.info("scan %s of %s failed: %s", scan.pk, scan.host.name, exc)
        store.store_failure(scan, exc.error_class, exc.detail, elapsed())
    except Exception as exc:
        log.exception("scan %s of %s crashed", scan.pk, scan.host.name)
        store.store_failure(
            scan, ErrorClass.INTERNAL, f"{type(exc).__name__}: {exc}"[:500], elapsed()
        )
    scan.refresh_from_db()
    notify_finished(scan)
    return scan


def dispatch_due_scans(now: datetime | None = None, limit: int = 1000) -> int:
    """Queue a scan for every enabled host whose next_scan_at has passed."""
    now = now or timezone.now()
    expire_stale_scans()
    queued = 0
    for host in Host.objects.due(now).order_by("next_scan_at")[:limit]:
        # Compare-and-set on next_scan_at: a second dispatcher racing this one finds the
        # value moved and skips the host, so a host is never dispatched twice per cycle.
        moved = Host.objects.filter(pk=host.pk, next_scan_at=host.next_scan_at).update(
            next_scan_at=host.schedule_next(now)
        )
        if moved:
            # The fleet-wide sweep above already expired stale scans: not once more per host.
            _, created = request_scan(host, ScanRun.Trigger.SCHEDULE, expire=False)
            queued += int(created)
    return queued


def prune_history(now: datetime | None = None, days: int | None = None) -> int:
    """Delete scan runs older than the retention period. Score samples (trends) and findings
    (lifecycle) are kept; a run still named as a host's current or last scan is kept too."""
    from django.conf import settings

    from scans.models import HostPosture

    days = days if days is not None else settings.POSTURE_SCAN["RETENTION_DAYS"]
    cutoff = (now or timezone.now()) - timedelta(days=days)
    pinned = set(HostPosture.objects.values_list("current_scan_id", flat=True)) | set(
        HostPosture.objects.values_list("last_scan_id", flat=True)
    )
    old = ScanRun.objects.filter(requested_at__lt=cutoff).exclude(status__in=ScanRun.ACTIVE)
    deleted, _ = old.exclude(pk__in=pinned - {None}).delete()
    return deleted
