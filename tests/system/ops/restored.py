"""What a backup must bring back, as one JSON-able summary of the database it runs on.

`python -m tests.system.ops.restored` prints it for the database its environment names
(POSTURE_DB_*), as a fresh process on a restored machine would see it; the backup tests
compare it with the summary of the original. Credentials are opened as a worker opens them
(Host.credentials) and only their digests leave the process, or the error that stopped them.
POSTURE_OPS_OTHER_KEYS (JSON: {name: [public, private]}) also opens them under other key
settings in the same process (one Django start instead of one per configuration).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def _digest(rows: Any) -> str:
    return hashlib.sha256(json.dumps(list(rows), default=str).encode()).hexdigest()[:16]


def summary() -> dict[str, Any]:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from findings.models import Finding, ScoreSample
    from hosts.models import Host
    from scans.models import ScanRun

    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return {
        "hosts": list(Host.objects.order_by("name").values_list("name", "endpoint", "labels")),
        "findings_open": Finding.objects.filter(resolved_at__isnull=True).count(),
        "findings": _digest(
            Finding.objects.order_by("pk").values_list(
                "host__name", "rule_id", "subject_key", "severity", "opened_at", "resolved_at"
            )
        ),
        "score_samples": _digest(
            ScoreSample.objects.order_by("pk").values_list("host__name", "taken_at", "score")
        ),
        "scan_runs": _digest(
            ScanRun.objects.order_by("pk").values_list("host__name", "status", "finished_at")
        ),
        "scores": list(
            Host.objects.order_by("name").values_list("name", "posture__score", "posture__grade")
        ),
        "credentials": credentials(),
        "migrations_pending": len(pending),
    }


def credentials() -> dict[str, str]:
    from hosts.models import Host
    from posture.lib import crypto

    opened_by_host: dict[str, str] = {}
    for host in Host.objects.order_by("name"):
        if not (host.has_ssh_private_key or host.has_tls_client_key):
            continue
        try:
            opened = host.credentials()
        except crypto.DecryptionError as error:
            opened_by_host[host.name] = f"error: {error}"
        else:
            opened_by_host[host.name] = hashlib.sha256(
                (opened.client_key + opened.ssh_private_key).encode()
            ).hexdigest()
    return opened_by_host


def main() -> None:
    import os

    import django

    django.setup()
    from django.conf import settings

    result = summary()
    for name, (public, private) in json.loads(
        os.environ.get("POSTURE_OPS_OTHER_KEYS", "{}")
    ).items():
        settings.CREDENTIALS_PUBLIC_KEY = public
        settings.CREDENTIALS_PRIVATE_KEYS = [private] if private else []
        result[f"credentials with {name}"] = credentials()
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
