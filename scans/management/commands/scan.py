"""manage.py scan HOST [--wait] [--format json]: scan from the command line or a CI job."""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hosts.models import Host
from posture.rules import REGISTRY
from scans import services
from scans.export import host_report
from scans.models import ScanRun

EXIT_SCAN_FAILED = 2


class Command(BaseCommand):
    help = "Scan a host. With --wait, the scan runs in this process and its result is printed."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("host")
        parser.add_argument(
            "--wait", action="store_true", help="run the scan now, here, and print the result"
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")
        parser.add_argument(
            "--timeout",
            type=int,
            default=600,
            help="seconds to wait for a scan already running elsewhere",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            host = Host.objects.get(name=opts["host"])
        except Host.DoesNotExist:
            raise CommandError(
                f"no host named {opts['host']!r} (see: manage.py host list)"
            ) from None
        scan, created = services.request_scan(host, ScanRun.Trigger.CLI, enqueue=not opts["wait"])
        if not opts["wait"]:
            note = "queued" if created else "already queued or running"
            self.stdout.write(f"scan #{scan.pk} of {host.name} {note}")
            return
        scan = services.run_scan(scan.pk) if created else self._wait_for(scan, opts["timeout"])
        if opts["format"] == "json":
            self.stdout.write(json.dumps(host_report(host, scan), indent=2))
        else:
            self._print_text(host, scan)
        if scan.status != ScanRun.Status.SUCCEEDED:
            raise SystemExit(EXIT_SCAN_FAILED)

    def _wait_for(self, scan: ScanRun, timeout: int) -> ScanRun:
        self.stderr.write(f"scan #{scan.pk} is already {scan.status}; waiting for it")
        end = time.monotonic() + timeout
        while scan.is_active:
            if time.monotonic() > end:
                raise CommandError(f"scan #{scan.pk} still {scan.status} after {timeout}s")
            time.sleep(1)
            scan.refresh_from_db()
        return scan

    def _print_text(self, host: Host, scan: ScanRun) -> None:
        report = host_report(host, scan)
        out = self.stdout.write
        if scan.status == ScanRun.Status.SUCCEEDED:
            out(
                f"{host.name}: score {report['score']} grade {report['grade']} "
                f"({scan.containers} containers, {scan.images} images, {scan.duration_ms} ms)"
            )
        else:
            error = scan.error
            label = error.label if error else scan.status
            out(f"{host.name}: scan failed: {label}: {scan.error_detail}")
            if error:
                out(f"  {error.advice}")
            if report["score"] is not None:
                out(f"  last good picture (as of {report['as_of']}): score {report['score']}")
        out(f"rules assessed: {report['rules_assessed']} of {report['rules_total']}")
        for finding in report["findings"]:
            evidence = "; ".join(f"{e['field']} = {e['value']}" for e in finding["evidence"])
            rule = REGISTRY.get(finding["rule_id"])
            title = rule.title if rule else finding["rule_id"]
            out(
                f"  [{finding['severity']:<8}] {finding['rule_id']:<22} "
                f"{finding['subject']['name'] or 'daemon'}: {title} ({evidence})"
            )
