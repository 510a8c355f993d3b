"""Re-matching every stored inventory after a vulnerability data import.

    python bench/bench_rematch.py --inventories 1000 --packages 300 --advisories 200000

Issue 11's target: re-matching 1,000 distinct stored inventories after a data import
≤ 60 s on this 2-core machine, with no host read. Generates (fixed seed, bench_match's
generators) an OSV-shaped corpus stored as vulndb rows and N distinct inventories (Debian
12, PyPI and npm packages drawn like bench_match's images) stored as vulns rows, then moves
the data generation and times vulns.inventories.rematch() — what the beat task runs. The
floor, in the same run: the same match() calls on the same packages held in memory (no
database reads or writes). Prints markdown; writes nothing into the repository (its
database lives under --dir).
"""

# ruff: noqa: E402  (the repository root must be on sys.path before the project imports)
from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inventories", type=int, default=1000)
    parser.add_argument("--packages", type=int, default=300, help="per inventory")
    parser.add_argument("--advisories", type=int, default=200_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/pst-bench-rematch"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    shutil.rmtree(args.dir, ignore_errors=True)
    args.dir.mkdir(parents=True)
    os.environ.update(
        POSTURE_DATA_DIR=str(args.dir),
        DJANGO_SETTINGS_MODULE="posture.settings",
        POSTURE_DB_ENGINE="sqlite",
        POSTURE_LOG_LEVEL="WARNING",
    )
    os.environ.pop("POSTURE_DB_NAME", None)  # lab services' PostgreSQL name, not a file
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)

    import bench_match
    from django.db import transaction
    from django.utils import timezone

    from vulndb import index, matching
    from vulndb.models import Advisory, AffectedPackage
    from vulndb.upsert import bump_generation
    from vulns import inventories
    from vulns.models import ImageInventory, ImageVulnerability, Package

    rng = random.Random(args.seed)
    started = time.monotonic()
    data = bench_match.corpus(rng, args.advisories)
    now = timezone.now()
    seen: set[str] = set()
    advisories, affected = [], []
    for ident, entry in data.entries:
        if ident not in seen:
            seen.add(ident)
            advisories.append(
                Advisory(id=ident, modified=now, group=ident, severity=rng.randint(0, 4))
            )
        affected.append(
            AffectedPackage(
                advisory_id=ident,
                ecosystem=entry.ecosystem,
                name=entry.name,
                ranges=[
                    {"type": r.type, "events": [list(e) for e in r.events]} for r in entry.ranges
                ],
                versions=list(entry.versions),
            )
        )
    with transaction.atomic():
        Advisory.objects.bulk_create(advisories, batch_size=5000)
        AffectedPackage.objects.bulk_create(affected, batch_size=5000)
    images = [bench_match.image(rng, data, args.packages) for _ in range(args.inventories)]
    with transaction.atomic():
        rows = ImageInventory.objects.bulk_create(
            [
                ImageInventory(
                    key=f"{n:064x}",
                    status=ImageInventory.Status.ASSESSED,
                    mode="os",
                    ecosystem="Debian:12",
                    package_count=len(pkgs),
                    read_at=now,
                )
                for n, pkgs in enumerate(images)
            ]
        )
        Package.objects.bulk_create(
            [
                Package(
                    inventory=inv,
                    ecosystem=p.ecosystem,
                    name=p.name,
                    version=p.version,
                    source_name=p.source_name,
                    source_version=p.source_version,
                )
                for inv, pkgs in zip(rows, images, strict=True)
                for p in pkgs
            ],
            batch_size=5000,
        )
    setup = time.monotonic() - started

    # Floor: the same matching, in memory.
    index.clear_cache()
    ecosystems = {p.ecosystem for pkgs in images for p in pkgs}
    wall0, cpu0 = time.monotonic(), cpu()
    idx = index.index_for(ecosystems)
    floor_matches = sum(len(matching.match(pkgs, idx)) for pkgs in images)
    floor_wall, floor_cpu = time.monotonic() - wall0, cpu() - cpu0

    index.clear_cache()
    bump_generation()
    wall0, cpu0 = time.monotonic(), cpu()
    changed = inventories.rematch()
    wall, used = time.monotonic() - wall0, cpu() - cpu0
    stored = ImageVulnerability.objects.count()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(
        f"{args.inventories} inventories × {args.packages} packages, "
        f"{len(advisories):,} advisories ({len(affected):,} entries); setup {setup:.0f} s\n"
    )
    print("| step | wall s | CPU s | × floor (wall) |")
    print("|---|---:|---:|---:|")
    print(
        f"| floor: index load + match() of every image in memory | {floor_wall:.1f} | "
        f"{floor_cpu:.1f} | 1.00 |"
    )
    print(
        f"| `vulns.inventories.rematch()` (reads packages, matches, writes rows) | {wall:.1f} | "
        f"{used:.1f} | {wall / floor_wall:.2f} |"
    )
    print(
        f"\n{len(changed)} inventories changed, {stored:,} vulnerability rows "
        f"({floor_matches:,} matches in the floor); max RSS {rss:.0f} MiB"
    )


if __name__ == "__main__":
    main()
