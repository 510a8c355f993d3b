"""Import of a whole OSV corpus: `manage.py vulndb import` on 200,000 generated advisories.

    python bench/bench_vulndb_import.py [--advisories 200000] [--corpus DIR] [--postgres]

Generates (once, kept in --corpus) one all.zip per ecosystem shaped like osv.dev's: Debian
(DSA/DLA/DEBIAN-CVE records per release, no severity, `upstream` CVEs), Alpine (per release,
-rN fixes), PyPI and npm (GHSA records with CVSS vectors, some listing versions). Then, in
one run: the floor (every member read from the zips and json-parsed, no validation, no
database), the schema check alone on a sample, the import into an empty database, the same
import again (all unchanged, --force), and the first index load of the largest ecosystem.
SQLite in a temporary directory by default; --postgres uses the lab cluster
(`eval "$(python -m lab services)"` first) with a fresh database. Prints markdown; writes
nothing into the repository.
"""

# ruff: noqa: E402  (the repository root must be on sys.path before the project imports)
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARES = {"Debian": 0.40, "Alpine": 0.15, "PyPI": 0.225, "npm": 0.225}
DB_NAME = "posture_bench_vulndb"
WORDS = ("buffer", "overflow", "heap", "use", "after", "free", "parser", "remote", "attacker")


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _ts(rng: random.Random) -> str:
    return f"20{rng.randint(18, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T00:00:00Z"


def _record(eco: str, n: int, rng: random.Random) -> dict[str, Any]:
    cve = f"CVE-20{rng.randint(10, 24)}-{n:06d}"
    name = f"pkg{rng.randint(0, n // 4 + 50)}"
    doc: dict[str, Any] = {
        "schema_version": "1.6.0",
        "modified": _ts(rng),
        "published": _ts(rng),
        "summary": _text(rng, 8),
        "details": _text(rng, 60),
        "references": [{"type": "ADVISORY", "url": f"https://example.org/adv/{n}"}],
    }
    if eco == "Debian":
        doc["id"] = f"DEBIAN-{cve}" if n % 3 else f"DSA-{n}-1"
        doc["upstream"] = [cve]
        affected = [
            {
                "package": {"ecosystem": f"Debian:{release}", "name": name},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [
                            {"introduced": "0"},
                            {"fixed": f"1:{rng.randint(1, 9)}.{rng.randint(0, 30)}-{release}+deb1"},
                        ],
                    }
                ],
            }
            for release in (11, 12)
        ]
    elif eco == "Alpine":
        doc["id"] = f"ALPINE-{cve}"
        doc["upstream"] = [cve]
        affected = [
            {
                "package": {"ecosystem": f"Alpine:v3.{release}", "name": name},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [
                            {"introduced": "0"},
                            {"fixed": f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.1-r1"},
                        ],
                    }
                ],
            }
            for release in (19, 20)
        ]
    else:
        doc["id"] = f"GHSA-{n:04x}-{rng.randint(0, 0xFFFF):04x}-{eco.lower()[:4]}"
        doc["aliases"] = [cve]
        doc["severity"] = [
            {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
        ]
        major = rng.randint(0, 5)
        entry: dict[str, Any] = {
            "package": {"ecosystem": eco, "name": name},
            "ranges": [
                {
                    "type": "ECOSYSTEM" if eco == "PyPI" else "SEMVER",
                    "events": [
                        {"introduced": f"{major}.0.0"},
                        {"fixed": f"{major}.{rng.randint(1, 20)}.0"},
                    ],
                }
            ],
        }
        if n % 4 == 0:
            entry["versions"] = [f"{major}.0.{p}" for p in range(rng.randint(1, 30))]
        affected = [entry]
    doc["affected"] = affected
    return doc


def make_corpus(folder: Path, total: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / f".complete-{total}"
    paths = [folder / f"{eco}-all.zip" for eco in SHARES]
    if stamp.exists():
        return paths
    rng = random.Random(11)
    n = 0
    for (eco, share), path in zip(SHARES.items(), paths, strict=True):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for _ in range(int(total * share)):
                n += 1
                doc = _record(eco, n, rng)
                archive.writestr(f"{doc['id']}.json", json.dumps(doc, indent=2))
    stamp.touch()
    return paths


def floor(paths: list[Path]) -> tuple[float, int, list[bytes]]:
    """Every member read and json-parsed, nothing else; a sample kept for the check."""
    sample: list[bytes] = []
    started = time.perf_counter()
    count = 0
    for path in paths:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                raw = archive.read(info)
                json.loads(raw)
                count += 1
                if count % 20 == 0 and len(sample) < 5000:
                    sample.append(raw)
    return time.perf_counter() - started, count, sample


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (the import's worker pool)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def setup_django(data_dir: Path, postgres: bool) -> str:
    os.environ.update(
        POSTURE_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="posture.settings",
        POSTURE_LOG_LEVEL="WARNING",
    )
    if postgres:
        if os.environ.get("POSTURE_DB_ENGINE") != "postgres":
            sys.exit('--postgres: run eval "$(.venv/bin/python -m lab services)" first')
        import psycopg

        dsn = (
            f"host={os.environ['POSTURE_DB_HOST']} port={os.environ['POSTURE_DB_PORT']} "
            f"user={os.environ['POSTURE_DB_USER']} dbname=postgres "
            f"password={os.environ.get('POSTURE_DB_PASSWORD', '')}"
        )
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
            conn.execute(f"CREATE DATABASE {DB_NAME}")
        os.environ["POSTURE_DB_NAME"] = DB_NAME
        where = "PostgreSQL (lab cluster)"
    else:
        os.environ["POSTURE_DB_ENGINE"] = "sqlite"
        os.environ.pop("POSTURE_DB_NAME", None)
        where = "SQLite (WAL, synchronous=NORMAL)"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--advisories", type=int, default=200_000)
    parser.add_argument("--corpus", type=Path, default=Path("/tmp/pst-vulndb-corpus"))
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    started = time.perf_counter()
    paths = make_corpus(args.corpus / str(args.advisories), args.advisories)
    generated = time.perf_counter() - started
    size = sum(p.stat().st_size for p in paths)

    with tempfile.TemporaryDirectory(prefix="pst-vulndb-bench-") as tmp:
        where = setup_django(Path(tmp), args.postgres)
        from vulndb import index, osv
        from vulndb.importer import import_paths

        load = os.getloadavg()
        cpu = _cpu()
        floor_s, count, sample = floor(paths)
        floor_cpu = _cpu() - cpu
        t = time.process_time()
        for raw in sample:
            osv.parse_osv(json.loads(raw))
        check_per = (time.process_time() - t) / len(sample)

        t, cpu = time.perf_counter(), _cpu()
        first = import_paths(paths, workers=args.workers)
        import_s, import_cpu = time.perf_counter() - t, _cpu() - cpu
        t, cpu = time.perf_counter(), _cpu()
        again = import_paths(paths, force=True, workers=args.workers)
        again_s, again_cpu = time.perf_counter() - t, _cpu() - cpu
        t = time.perf_counter()
        idx = index.index_for(["Debian:12"])
        index_s = time.perf_counter() - t
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    added = sum(i.added for i in first.inputs)
    rejected = sum(i.rejected for i in first.inputs)
    unchanged = sum(i.unchanged for i in again.inputs)
    print(f"## vulndb import: {count:,} advisories, {size / 2**20:.0f} MB of zips, {where}\n")
    print(f"CPUs: {os.cpu_count()}; corpus generated in {generated:.0f} s (cached after)\n")
    print(f"load average before: {load[0]:.1f} (a shared machine inflates wall times)\n")
    print("| step | wall s | CPU s (all processes) | wall / floor |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| floor: read + json.loads every member | {floor_s:.1f} | {floor_cpu:.1f} | 1.0 |")
    print(
        f"| schema check + parse alone (×{count:,}, CPU of {len(sample)} sampled) "
        f"| | {check_per * count:.1f} | |"
    )
    print(
        f"| import into an empty database ({added:,} added, {rejected} rejected) "
        f"| {import_s:.1f} | {import_cpu:.1f} | {import_s / floor_s:.1f} |"
    )
    print(
        f"| same files again, --force ({unchanged:,} unchanged) "
        f"| {again_s:.1f} | {again_cpu:.1f} | {again_s / floor_s:.1f} |"
    )
    print(f"| first index_for(['Debian:12']) ({len(idx):,} entries) | {index_s:.1f} | | |")
    print(f"\npeak RSS of this process: {rss:.0f} MB; target: import <= 120 s")


if __name__ == "__main__":
    main()
