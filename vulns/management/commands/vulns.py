"""manage.py vulns ingest FILE... | rematch: feed image results made elsewhere (Trivy JSON,
CycloneDX SBOM/VEX) and match every inventory against the current vulnerability data."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hosts.models import Host
from vulns import inventories
from vulns.ingest import MAX_DOCUMENT_BYTES, IngestError, ingest
from vulns.signals import notify, vulnerabilities_changed


class Command(BaseCommand):
    help = (
        "ingest FILE...: merge Trivy JSON reports (schema 2) or CycloneDX SBOM/VEX documents "
        "into the inventories of the fleet's images they describe; "
        "rematch: match inventories against vulnerability data newer than they saw."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        ingest_ = sub.add_parser("ingest")
        ingest_.add_argument("files", nargs="+", type=Path)
        sub.add_parser("rematch")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["action"] == "rematch":
            changed = inventories.rematch()
            self.stdout.write(f"{len(changed)} inventor(y/ies) changed")
            self._rescan(changed)
            return
        failed = 0
        keys = []
        for path in opts["files"]:
            try:
                if path.stat().st_size > MAX_DOCUMENT_BYTES:
                    raise IngestError("larger than the 64 MB cap")
                report = ingest(path.read_bytes())
            except (OSError, IngestError) as exc:
                self.stderr.write(f"{path}: {exc}")
                failed += 1
                continue
            keys.append(report.inventory_key)
            self.stdout.write(
                f"{path}: {report.kind} report of {report.image} → inventory "
                f"{report.inventory_key[:12]} ({report.hosts} host(s)): "
                f"{report.added} vulnerabilit(y/ies) added, {report.duplicates} already known, "
                f"{report.packages} package(s) added"
            )
        self._rescan(keys)
        if failed:
            raise CommandError(f"{failed} file(s) could not be ingested")

    def _rescan(self, keys: list[str]) -> None:
        if keys:
            hosts = Host.objects.filter(pk__in=inventories.hosts_running(keys)).order_by("name")
            notify(vulnerabilities_changed, hosts, sender=Host)
