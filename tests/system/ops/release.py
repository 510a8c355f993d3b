"""One side of the upgrade test, run in its own process against the tree on PYTHONPATH.

    PYTHONPATH=<tree> python tests/system/ops/release.py before|after

`before` (the previous release's tree): migrate a fresh database, seed it with that
release's own bench seeding (bench/bench_pages.py's `seed`, small), then describe it.
`after` (the current tree, same database): migrate, then describe it. Either prints one JSON
line: the data summary (restored.summary) and, for the fleet, one host's page and the
trends, the status and what each page shows of the data (host names, open rules).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

HOSTS = 6
FINDINGS = 1200


def pages() -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from access.services import set_role
    from findings.models import Finding
    from hosts.models import Host

    user = get_user_model().objects.get(username="bench")
    set_role(user, "admin")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    names = sorted(Host.objects.values_list("name", flat=True))
    host = Host.objects.filter(posture__score__isnull=False).order_by("name").first()
    assert host is not None
    rules = sorted(
        set(
            Finding.objects.filter(host=host, resolved_at__isnull=True).values_list(
                "rule_id", flat=True
            )
        )
    )
    seen: dict[str, Any] = {}
    for label, path, expected in (
        ("fleet", "/", names),
        ("host", f"/hosts/{host.name}/", rules),
        ("trends", "/trends/", []),
    ):
        response = client.get(path)
        text = response.content.decode()
        seen[label] = {
            "status": response.status_code,
            "shows": [word for word in expected if word in text],
        }
    return seen


def main(side: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    began = time.perf_counter()
    call_command("migrate", verbosity=0, skip_checks=True)  # the suite runs the checks
    print(f"{side}: migrated in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    if side == "before":
        sys.path.insert(0, str(Path.cwd() / "bench"))
        import bench_pages  # the previous release's seeding, from its own tree

        began = time.perf_counter()
        bench_pages.seed(HOSTS, FINDINGS)
        print(f"{side}: seeded in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    from restored import summary

    began = time.perf_counter()
    print(json.dumps({"data": summary(), "pages": pages()}, default=str))
    print(f"{side}: described in {time.perf_counter() - began:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
