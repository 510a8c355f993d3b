"""manage.py scan HOST [--wait | --no-scan] [--format text|json|sarif] [--fail-under N]
[--fail-on SEVERITY] [--fail-on-vuln SEVERITY] [--fail-on-kev]: scan from the command line,
or gate a CI job on a host's posture and the known vulnerabilities of its images."""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.services import record
from findings.export import FINDING_FIELDS
from findings.models import Finding, HostPosture
from findings.sarif import sarif_log
from hosts.models import Host
from rules import REGISTRY, Severity
from scans import services
from scans.models import ScanRun
from scans.report import host_report
from vulndb.records import VulnSeverity
from vulns.report import host_images, host_vulnerabilities

EXIT_SCAN_FAILED = 2
EXIT_GATE_FAILED = 3
GATE_SEVERITIES = ("critical", "high", "medium", "low")


class Command(BaseCommand):
    help = (
        "Scan a host. With --wait, the scan runs in this process and its result is printed; "
        "with --no-scan, the last picture is printed without scanning. "
        "Exit codes: 0 done (and every gate passed); 1 bad usage or unknown host; "
        "2 the scan failed (the last good picture is printed, no gate is checked); "
        "3 a gate failed (--fail-under: score below SCORE or no score yet; --fail-on: an open "
        "finding at SEVERITY or above; --fail-on-vuln: an open vulnerability at SEVERITY or "
        "above in the host's images; --fail-on-kev: a known-exploited one; both vulnerability "
        "gates also fail when an image could not be assessed)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("host")
        parser.add_argument(
            "--wait", action="store_true", help="run the scan now, here, and print the result"
        )
        parser.add_argument(
            "--no-scan",
            action="store_true",
            help="do not scan: report the host's last picture (its open findings and score)",
        )
        parser.add_argument("--format", choices=["text", "json", "sarif"], default="text")
        parser.add_argument(
            "--fail-under",
            type=int,
            metavar="SCORE",
            help="exit 3 when the host's score is below SCORE (0-100)",
        )
        parser.add_argument(
            "--fail-on",
            choices=GATE_SEVERITIES,
            metavar="SEVERITY",
            help="exit 3 when an open finding is of SEVERITY or above "
            f"({', '.join(GATE_SEVERITIES)})",
        )
        parser.add_argument(
            "--fail-on-vuln",
            choices=GATE_SEVERITIES,
            metavar="SEVERITY",
            help="exit 3 when an image of the host has an open (untriaged) vulnerability of "
            "SEVERITY or above",
        )
        parser.add_argument(
            "--fail-on-kev",
            action="store_true",
            help="exit 3 when an image of the host has an open known-exploited vulnerability "
            "(CISA KEV)",
        )
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
        reports = opts["wait"] or opts["no_scan"]
        if opts["wait"] and opts["no_scan"]:
            raise CommandError("--wait and --no-scan exclude each other")
        gated = (
            opts["fail_under"] is not None
            or opts["fail_on"] is not None
            or opts["fail_on_vuln"] is not None
            or opts["fail_on_kev"]
        )
        if not reports and (gated or opts["format"] != "text"):
            raise CommandError("--format and the --fail-* gates need --wait or --no-scan")
        if opts["no_scan"]:
            self._report(host, None, opts["format"])
            self._gate(host, opts)
            return
        scan, created = services.request_scan(host, ScanRun.Trigger.CLI, enqueue=not opts["wait"])
        if created:
            record("scan.requested", source="cli", target=host, details={"scan": scan.pk})
        if not opts["wait"]:
            note = "queued" if created else "already queued or running"
            self.stdout.write(f"scan #{scan.pk} of {host.name} {note}")
            return
        scan = services.run_scan(scan.pk) if created else self._wait_for(scan, opts["timeout"])
        self._report(host, scan, opts["format"])
        if scan.status != ScanRun.Status.SUCCEEDED:
            raise SystemExit(EXIT_SCAN_FAILED)
        self._gate(host, opts)

    def _report(self, host: Host, scan: ScanRun | None, fmt: str) -> None:
        if fmt == "json":
            self.stdout.write(json.dumps(host_report(host, scan), indent=2))
        elif fmt == "sarif":
            findings = Finding.objects.open().for_host(host)
            rows = findings.order_by("-severity", "rule_id", "subject_name", "pk")
            log = sarif_log(rows.values(*FINDING_FIELDS), host=host.name)
            self.stdout.write(json.dumps(log, indent=2, ensure_ascii=False))
        else:
            self._print_text(host, scan)

    def _gate(self, host: Host, opts: dict[str, Any]) -> None:
        """Exit 3 when the host's current picture fails a gate; say why on stderr."""
        fail_under, fail_on = opts["fail_under"], opts["fail_on"]
        failures = []
        if fail_under is not None:
            score = HostPosture.objects.filter(host=host).values_list("score", flat=True).first()
            if score is None:
                failures.append(f"{host.name} has no score yet (--fail-under {fail_under})")
            elif score < fail_under:
                failures.append(f"score {score} is below {fail_under}")
        if fail_on is not None:
            threshold = Severity[fail_on.upper()]
            count = Finding.objects.open().for_host(host).filter(severity__gte=threshold).count()
            if count:
                failures.append(f"{count} open finding(s) of severity {fail_on} or above")
        if opts["fail_on_vuln"] is not None or opts["fail_on_kev"]:
            failures += self._vulnerability_gates(host, opts["fail_on_vuln"], opts["fail_on_kev"])
        for failure in failures:
            self.stderr.write(f"gate failed: {failure}")
        if failures:
            raise SystemExit(EXIT_GATE_FAILED)

    def _vulnerability_gates(self, host: Host, severity: str | None, kev: bool) -> list[str]:
        failures = []
        # An image nobody could read is not an image without vulnerabilities: a gate that
        # cannot see fails, and says why.
        for image in host_images(host):
            if not image["assessed"]:
                name = (image["references"] or [image["id"]])[0]
                failures.append(f"{name} not assessed: {image['not_assessed_reason']}")
        found = host_vulnerabilities(host)
        if severity is not None:
            threshold = VulnSeverity[severity.upper()].label
            order = [s.label for s in VulnSeverity]
            hits = {
                (v["id"], v["image"])
                for v in found
                if order.index(v["severity"]) >= order.index(threshold)
            }
            if hits:
                failures.append(
                    f"{len(hits)} open vulnerabilit(y/ies) of severity {severity} or above"
                )
        if kev:
            hits = {(v["id"], v["image"]) for v in found if v["kev"]}
            if hits:
                ids = ", ".join(sorted({h[0] for h in hits})[:5])
                failures.append(f"{len(hits)} open known-exploited vulnerabilit(y/ies): {ids}")
        return failures

    def _wait_for(self, scan: ScanRun, timeout: int) -> ScanRun:
        self.stderr.write(f"scan #{scan.pk} is already {scan.status}; waiting for it")
        end = time.monotonic() + timeout
        while scan.is_active:
            if time.monotonic() > end:
                raise CommandError(f"scan #{scan.pk} still {scan.status} after {timeout}s")
            time.sleep(1)
            scan.refresh_from_db()
        return scan

    def _print_text(self, host: Host, scan: ScanRun | None) -> None:
        report = host_report(host, scan)
        out = self.stdout.write
        if scan is None:
            if report["score"] is None:
                out(f"{host.name}: no picture yet (never scanned successfully)")
            else:
                out(
                    f"{host.name}: score {report['score']} grade {report['grade']} "
                    f"(as of {report['as_of']})"
                )
        elif scan.status == ScanRun.Status.SUCCEEDED:
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
