"""Close a scan run: its ScanRun row and the host's picture (findings.store) in one
transaction, so a kill leaves nothing half-written."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from findings import store
from rules import Evaluation, HostScore
from rules.base import CATALOGUE_VERSION
from rules.facts import HostFacts
from scans.models import ScanRun
from scans.transports.errors import ErrorClass
from vulns import history


@transaction.atomic
def store_success(
    scan: ScanRun,
    facts: HostFacts,
    evaluations: list[Evaluation],
    score: HostScore,
    duration_ms: int,
    api_version: str,
) -> None:
    now = timezone.now()
    scan.status = ScanRun.Status.SUCCEEDED
    scan.finished_at = now
    scan.duration_ms = duration_ms
    scan.engine_version = str(facts.version.get("Version") or "")[:64]
    scan.api_version = api_version
    scan.catalogue_version = CATALOGUE_VERSION
    scan.containers = len(facts.containers)
    scan.images = len(facts.images)
    scan.score = score.score
    scan.grade = score.grade
    scan.host_access = facts.host.via if facts.host is not None else ScanRun.HostAccess.NONE
    scan.host_access_note = facts.host_note[:255]
    scan.error_class = ""
    scan.error_detail = ""
    scan.save()
    store.store_picture(scan, facts, evaluations, score, now)
    history.record(scan.host, facts.images, now)


@transaction.atomic
def store_failure(
    scan: ScanRun,
    error_class: ErrorClass,
    detail: str,
    duration_ms: int | None,
    status: str = ScanRun.Status.FAILED,
) -> None:
    """Record the failure; the host's last good picture (score, findings) stays untouched."""
    now = timezone.now()
    ScanRun.objects.filter(pk=scan.pk).update(
        status=status,
        finished_at=now,
        duration_ms=duration_ms,
        error_class=error_class.value,
        error_detail=detail[:1000],
    )
    store.note_failure(scan, error_class.value, now)
