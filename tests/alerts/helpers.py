"""Finish scans the way scans.finish leaves them, then send scan_finished as run_scan does.

A failure goes through scans.finish.store_failure itself. A success writes the rows that
store_success writes (the run, the findings it opened or resolved, the host's picture),
without building facts and evaluations for a rule engine the alerts do not read.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from findings.models import Finding, HostPosture
from hosts.models import Host
from scans import finish
from scans.models import ScanRun
from scans.signals import notify_finished
from scans.transports import ErrorClass, Limits
from tests.factories import FindingFactory, ScanRunFactory

BASE_URL = "https://posture.example.org"
LIMITS = Limits(deadline=10, connect_timeout=3, read_timeout=5)


class Scans:
    def __init__(self, capture_on_commit: Any) -> None:
        # Runs what a commit would trigger (the alerts task) inside the test transaction.
        self.capture = capture_on_commit

    def success(
        self,
        host: Host,
        score: int = 80,
        opened: list[dict[str, Any]] | None = None,
        resolved: list[Finding] | None = None,
    ) -> ScanRun:
        if not ScanRun.objects.filter(host=host, status=ScanRun.Status.SUCCEEDED).exists():
            # Every host under test already has its baseline: the first picture of a host
            # alerts on nothing (tests/alerts/test_regressions.py proves it).
            ScanRunFactory(
                host=host, score=score, grade="B", requested_at=timezone.now() - timedelta(hours=1)
            )
        run = ScanRunFactory(host=host, score=score, grade="B")
        for fields in opened or []:
            FindingFactory(host=host, opened_scan=run, opened_at=run.finished_at, **fields)
        for finding in resolved or []:
            Finding.objects.filter(pk=finding.pk).update(
                resolved_at=run.finished_at, resolved_scan=run
            )
        HostPosture.objects.update_or_create(
            host=host,
            defaults={
                "current_scan": run,
                "last_scan": run,
                "score": score,
                "grade": "B",
                "last_success_at": run.finished_at,
                "last_attempt_at": run.finished_at,
                "last_error_class": "",
                "consecutive_failures": 0,
            },
        )
        return self.finish(run)

    def failure(self, host: Host) -> ScanRun:
        run = ScanRun.objects.create(
            host=host, status=ScanRun.Status.RUNNING, started_at=timezone.now()
        )
        finish.store_failure(run, ErrorClass.UNREACHABLE, "connection refused", 12)
        return self.finish(run)

    def finish(self, run: ScanRun) -> ScanRun:
        run.refresh_from_db()
        with self.capture(execute=True):
            notify_finished(run)
        return run


def privileged(name: str = "web") -> dict[str, Any]:
    return {
        "rule_id": "CTR-PRIVILEGED",
        "severity": 4,
        "subject_name": name,
        "evidence": [{"field": "HostConfig.Privileged", "value": "true"}],
    }


def html_part(message: Any) -> str:
    return str(message.get_body(preferencelist=("html",)).get_content())


def text_part(message: Any) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())
