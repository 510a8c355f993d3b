"""Scanning as plain functions: request a scan, run it, dispatch the hosts that are due.

Tasks and views call these; tests call them directly.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timedelta
from functools import partial

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import DurationField, ExpressionWrapper, F, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from findings import store
from findings.models import HostPosture
from hosts.models import Host
from policy import exceptions as risk_exceptions
from policy import profiles
from posture.lib.crypto import DecryptionError
from rules import evaluate, score_host
from rules.facts import HostFacts
from scans import filemodes, finish, images
from scans.collect import collect
from scans.hostchecks import HostChecks
from scans.models import ScanRun
from scans.signals import notify_finished
from scans.transports import DockerAPI, ErrorClass, Limits, ScanError, open_api
from vulns import inventories, summary
from vulns.tarstream import TarLimits

log = logging.getLogger(__name__)

# A queued scan whose message was lost (broker flushed, worker gone) is given up after this.
QUEUED_EXPIRY = timedelta(hours=1)
# Retried on the same run, after a backoff: a refused connection (daemon restarting) or a
# 5xx is often gone a minute later. Not a timeout: a daemon that hung for the whole
# deadline would most likely hang again and hold a worker thread as long; the next
# scheduled slot is its retry. Nothing a person must fix (certificates, keys) is retried.
RETRYABLE = {ErrorClass.UNREACHABLE, ErrorClass.DAEMON_ERROR}
# Seconds of the scan deadline kept for the host's own checks when reading inventories.
INVENTORY_RESERVE = 10.0


def _conf() -> dict[str, int]:
    from django.conf import settings

    return settings.POSTURE_SCAN


def lease_length(limits: Limits) -> timedelta:
    return timedelta(seconds=limits.deadline + _conf()["LEASE_GRACE"])


def retry_delay(attempt: int) -> float:
    """Seconds to wait before attempt `attempt + 1`: exponential, capped, with equal jitter
    so that a fleet that failed together (a network blip) does not retry together."""
    conf = _conf()
    ceiling = min(conf["RETRY_CAP"], conf["RETRY_BASE"] * 2 ** max(0, attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def pending_retry(scan: ScanRun) -> float | None:
    """Seconds before the task should run again, or None when the scan is settled.

    Queued again by run_scan: a transient failure, so back off. Still running under another
    worker's lease: this is a duplicate or early redelivery; look again when the lease
    ends, so that a scan whose worker was killed is not left for the next sweep.
    """
    if scan.status == ScanRun.Status.QUEUED and scan.attempts > 0:
        return retry_delay(scan.attempts)
    if scan.status == ScanRun.Status.RUNNING and scan.lease_until is not None:
        left = (
            ScanRun.objects.filter(pk=scan.pk)
            .annotate(left=ExpressionWrapper(F("lease_until") - Now(), DurationField()))
            .values_list("left", flat=True)
            .first()
        )
        return max(1.0, left.total_seconds() + 1) if left is not None else None
    return None


# Leases are written and judged on the database's clock (Now()), never a worker's: a
# worker whose clock is minutes behind would otherwise write leases that others read as
# long expired, and have its healthy scans interrupted and run twice (tests/system/faults).
def _stale(limits: Limits) -> QuerySet[ScanRun]:
    running = ScanRun.objects.filter(status=ScanRun.Status.RUNNING)
    return (
        running.filter(lease_until__lt=Now())
        # Claimed before leases existed: judge by the start time.
        | running.filter(lease_until__isnull=True, started_at__lt=Now() - lease_length(limits))
        | ScanRun.objects.filter(
            status=ScanRun.Status.QUEUED, requested_at__lt=Now() - QUEUED_EXPIRY
        )
    )


def _owned(scan: ScanRun) -> bool:
    """Lock the run's row and check it is still this attempt's. A worker whose lease ran out
    (starved of CPU, not dead) may have been declared interrupted meanwhile: its results are
    then dropped, because the host has already moved on to a re-run."""
    return (
        ScanRun.objects.select_for_update()
        .filter(pk=scan.pk, status=scan.status, attempts=scan.attempts)
        .exists()
    )


def interrupt(scan: ScanRun, *, rerun: bool = True, enqueue: bool = True) -> ScanRun | None:
    """Mark a scan whose worker is gone as interrupted and, once, scan the host again.

    Returns the re-run (queued) if one was created. A re-run that is itself interrupted is
    not re-run again: a host whose data kills workers must not kill them in a loop; it
    waits for its next scheduled slot instead.
    """
    with transaction.atomic():
        if not _owned(scan):
            return None  # someone else noticed first, or the worker finished after all
        finish.store_failure(
            scan,
            ErrorClass.INTERRUPTED,
            "the worker stopped before the end (killed, out of memory or restarted)",
            None,
            status=ScanRun.Status.INTERRUPTED,
        )
        _finished(scan)
    if not rerun or scan.trigger == ScanRun.Trigger.RERUN:
        return None
    again, created = request_scan(scan.host, ScanRun.Trigger.RERUN, enqueue=enqueue, expire=False)
    return again if created else None


def expire_stale_scans(
    host: Host | None = None, limits: Limits | None = None, *, rerun: bool = True
) -> int:
    """Mark scans whose worker died as interrupted, so the host can be scanned again.

    A running scan cannot outlive its lease (deadline plus a grace period): past that, the
    worker that held it was killed (SIGKILL, OOM, host reboot) and nothing will finish it.
    Running ones are re-run at once (unless `rerun` is false: the caller is about to queue
    one itself); a queued one whose message was lost just expires.
    """
    limits = limits or Limits.from_settings()
    stale = _stale(limits)
    if host is not None:
        stale = stale.filter(host=host)
    count = 0
    for scan in stale.select_related("host"):
        interrupt(scan, rerun=rerun and scan.status == ScanRun.Status.RUNNING)
        count += 1
    return count


def request_scan(
    host: Host,
    trigger: str = ScanRun.Trigger.MANUAL,
    enqueue: bool = True,
    expire: bool = True,
    cycle: datetime | None = None,
) -> tuple[ScanRun, bool]:
    """Queue a scan of host; (scan, created). If one is already queued or running, that
    one is returned instead: one scan per host at a time. A scheduled scan names its
    `cycle` (the slot it fills), and a slot is filled once. `expire=False` is for callers
    that have just swept stale scans for the whole fleet."""
    if expire:
        expire_stale_scans(host, rerun=False)
    for _ in range(3):
        try:
            with transaction.atomic():
                scan = ScanRun.objects.create(host=host, trigger=trigger, cycle=cycle)
        except IntegrityError:
            existing = ScanRun.objects.active().filter(host=host).first()
            if existing is None and cycle is not None:
                existing = ScanRun.objects.filter(host=host, cycle=cycle).first()
            if existing is not None:
                return existing, False
            continue  # the active scan finished between our insert and this read
        if enqueue:
            from scans.tasks import scan_host

            # robust: with the broker down the run stays queued (the request is not lost,
            # nor does "Scan now" fail); redispatch_lost sends it once the broker is back.
            transaction.on_commit(partial(scan_host.delay, scan.pk), robust=True)
        return scan, True
    raise RuntimeError(f"could not queue a scan of {host.name}")


def _claim(scan_id: int, limits: Limits) -> bool:
    return bool(
        ScanRun.objects.filter(pk=scan_id, status=ScanRun.Status.QUEUED).update(
            status=ScanRun.Status.RUNNING,
            # The database's clock for both, as for every lease (see _stale).
            started_at=Now(),
            lease_until=Now() + lease_length(limits),
            attempts=F("attempts") + 1,
        )
    )


def run_scan(scan_id: int, limits: Limits | None = None, *, retry: bool = False) -> ScanRun:
    """Run a queued scan to completion. Safe to call twice: only one caller claims it.

    Called for a scan that is still running past its lease (the broker redelivering the
    message of a worker that was killed), it marks that scan interrupted and runs the host
    again at once. With `retry`, a transient failure puts the scan back in the queue
    (see pending_retry) instead of recording it, until the attempts run out.
    """
    limits = limits or Limits.from_settings()
    if not _claim(scan_id, limits):
        scan = ScanRun.objects.select_related("host").get(pk=scan_id)
        if _stale(limits).filter(pk=scan_id, status=ScanRun.Status.RUNNING).exists():
            again = interrupt(scan, enqueue=False)
            if again is not None:
                return run_scan(again.pk, limits, retry=retry)
        return scan
    scan = ScanRun.objects.select_related("host").get(pk=scan_id)
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
        known_images = store.known_images(scan.host)
        mode = scan.host.image_scan_mode
        with open_api(endpoint, creds, limits) as api:
            # The host checks run beside the Engine API reads (scans.hostchecks).
            with HostChecks(api, endpoint, scan.host, limits) as checks:
                facts = collect(api, known_images=known_images, on_info=checks.info)
                checks.finish(facts)
            containers = inventories.image_containers(facts.containers)
            _read_inventories(api, scan.host, facts, containers, mode)
        facts.transport = endpoint.transport.value
        summary.summaries(scan.host, facts.images, mode, containers)
        filemodes.attach(facts.images, mode)
        evaluations = profiles.apply(evaluate(facts), profiles.effective(scan.host))
        evaluations = risk_exceptions.apply(evaluations, scan.host, timezone.now(), facts)
        score = score_host(evaluations)
        with transaction.atomic():
            if _owned(scan):
                finish.store_success(scan, facts, evaluations, score, elapsed(), api.api_version)
                _finished(scan)
            else:
                log.warning("scan %s of %s lost its lease; results dropped", scan.pk, scan.host)
    except (OperationalError, InterfaceError):
        # The database went away (restart, failover): nothing of this scan is written, and
        # recording the failure needs the database too. The task retries once it may be
        # back; the run, still "running", is then interrupted at the end of its lease and
        # re-run, like a killed worker's.
        raise
    except SoftTimeLimitExceeded:
        # Celery's soft limit sits above the scan deadline: reaching it means a read was
        # stuck outside the watchdog's reach.
        _fail(scan, ErrorClass.TIMEOUT, "the worker's time limit was reached", elapsed())
    except ScanError as exc:
        log.info("scan %s of %s failed: %s", scan.pk, scan.host.name, exc)
        conf = _conf()
        if retry and exc.error_class in RETRYABLE and scan.attempts < conf["ATTEMPTS"]:
            _requeue(scan, exc)
        else:
            _fail(scan, exc.error_class, exc.detail, elapsed())
    except Exception as exc:
        log.exception("scan %s of %s crashed", scan.pk, scan.host.name)
        _fail(scan, ErrorClass.INTERNAL, f"{type(exc).__name__}: {exc}"[:500], elapsed())
    if scan.is_active:  # not ended here (_finished read it back): requeued, or lost its lease
        scan.refresh_from_db()
    return scan


def _finished(scan: ScanRun) -> None:
    """Tell the receivers (alerts' regression detection) in the transaction that writes the
    scan's end: a worker killed after that commit and before theirs left a finished scan
    whose regressions were never opened, so an alert was lost (the 200-kill campaign found
    it). Each receiver writes in a savepoint of its own, so one that fails cannot take the
    scan's results down with it (scans.signals)."""
    scan.refresh_from_db()
    notify_finished(scan)


def _read_inventories(
    api: DockerAPI, host: Host, facts: HostFacts, containers: dict[str, str], mode: str
) -> None:
    """Read the inventories of the host's images that no host has read yet (once per
    image content for the whole fleet), on the scan's connection and within its deadline."""
    conf = settings.POSTURE_IMAGE_INVENTORY
    tar_limits = TarLimits(
        max_total_bytes=conf["MAX_FILES_BYTES"], max_stream_bytes=conf["MAX_STREAM_BYTES"]
    )
    for claim in inventories.claim(host, facts.images, containers, mode):
        # Leave the host's own verdicts the time they need: an image left unread now is
        # read on the next scan, a scan that times out stores nothing at all.
        if api.deadline.remaining() < INVENTORY_RESERVE:
            inventories.release(claim, host, "the scan ran out of time before this image")
            continue
        started = time.monotonic()
        platform = str(claim.image.inspect.get("Os") or "linux")
        result = images.read_inventory(
            api, claim.image.id, claim.container_id, mode, tar_limits, platform=platform
        )
        inventories.store(claim, result, host, int((time.monotonic() - started) * 1000))


def _fail(scan: ScanRun, error: ErrorClass, detail: str, duration_ms: int) -> None:
    with transaction.atomic():
        if _owned(scan):
            finish.store_failure(scan, error, detail, duration_ms)
            _finished(scan)


def _requeue(scan: ScanRun, exc: ScanError) -> None:
    """Back to the queue, on the same row: the host stays locked, no failure is counted
    yet, and the run's page says which attempt failed and why."""
    detail = f"attempt {scan.attempts} failed ({exc.error_class.label}): {exc.detail}"
    ScanRun.objects.filter(
        pk=scan.pk, status=ScanRun.Status.RUNNING, attempts=scan.attempts
    ).update(status=ScanRun.Status.QUEUED, lease_until=None, error_detail=detail[:1000])


def _waiting_messages(queue: str = "scans") -> int | None:
    """Messages waiting in the broker's scans queue; None when it cannot be asked."""
    from posture.celery import app

    try:
        with app.connection_for_read() as conn:
            return int(conn.default_channel.queue_declare(queue=queue).message_count)
    except Exception as exc:  # noqa: BLE001 - a broker that cannot answer: decide nothing
        log.warning("could not read the scans queue: %r", exc)
        return None


def redispatch_lost(limits: Limits | None = None) -> int:
    """Send again the message of every queued run that nobody took within a lease while the
    scans queue is empty: the broker lost it (Redis restarted without its data, flushed).

    Only when the queue is empty: a queue still holding messages is working through a
    backlog, and a second message per waiting run would only grow it. A duplicate message
    is harmless anyway: one claim wins (run_scan), the other finds the run taken.
    """
    limits = limits or Limits.from_settings()
    lost = ScanRun.objects.filter(
        status=ScanRun.Status.QUEUED, attempts=0, requested_at__lt=Now() - lease_length(limits)
    )
    ids = list(lost.order_by("requested_at").values_list("pk", flat=True)[:1000])
    if not ids or _waiting_messages() != 0:
        return 0
    from scans.tasks import scan_host

    for pk in ids:
        scan_host.delay(pk)
    log.warning("sent again the lost messages of %d queued scan(s)", len(ids))
    return len(ids)


def dispatch_due_scans(now: datetime | None = None, limit: int = 1000) -> int:
    """Queue a scan for every enabled host whose next_scan_at has passed."""
    now = now or timezone.now()
    expire_stale_scans()
    redispatch_lost()
    queued = 0
    for host in Host.objects.due(now).order_by("next_scan_at")[:limit]:
        slot = host.next_scan_at
        # Compare-and-set on next_scan_at: a second dispatcher racing this one finds the
        # value moved and skips the host. The slot is also the run's cycle key, unique per
        # host, so even a dispatcher working from a stale read cannot fill it twice.
        # One transaction for the move and the run: a worker killed between the two would
        # otherwise leave the slot moved and never scanned (the host skipped a whole
        # interval), and no reader sees the slot taken before its run exists.
        with transaction.atomic():
            moved = Host.objects.filter(pk=host.pk, next_scan_at=slot).update(
                next_scan_at=host.schedule_next(now)
            )
            if moved:
                # The fleet-wide sweep above already expired stale scans: not once more.
                _, created = request_scan(host, ScanRun.Trigger.SCHEDULE, expire=False, cycle=slot)
                queued += int(created)
    return queued


def prune_history(now: datetime | None = None, days: int | None = None) -> int:
    """Delete scan runs older than the retention period. Score samples (trends) and findings
    (lifecycle) are kept; a run still named as a host's current or last scan is kept too."""
    days = days if days is not None else settings.POSTURE_SCAN["RETENTION_DAYS"]
    cutoff = (now or timezone.now()) - timedelta(days=days)
    pinned = set(HostPosture.objects.values_list("current_scan_id", flat=True)) | set(
        HostPosture.objects.values_list("last_scan_id", flat=True)
    )
    old = ScanRun.objects.filter(requested_at__lt=cutoff).exclude(status__in=ScanRun.ACTIVE)
    deleted, _ = old.exclude(pk__in=pinned - {None}).delete()
    return deleted
