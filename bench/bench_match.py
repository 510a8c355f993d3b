"""What vulndb.matching.match() costs for one image against a full vulnerability import.

    python bench/bench_match.py --advisories 200000 --packages 2000 --repeat 30

Generates, with a fixed seed, advisories shaped like OSV's Debian (DEBIAN-CVE records with
one entry per release: "introduced 0", a "+debNuM" fix or none yet), Alpine (fixes with -r
revisions), PyPI (ranges, some with every affected release listed) and npm (SEMVER ranges,
prereleases) data, the heaviest packages holding hundreds of advisories as glibc and
openssl do. The image is Debian 12 with dpkg packages (binaries named after their source,
binNMU and epoch versions among them), PyPI and npm packages, drawn by the same
popularity, so that the busy packages are in it. Times, in one process: Index() over the
entries, the first match() (which compiles the buckets it touches), then --repeat match()
calls; the floor is the same bucket lookups and a walk over every candidate with no version
work; then --distinct images whose versions are drawn anew (cold version keys). Prints
markdown; writes no files.
"""

# ruff: noqa: E402  (the repository root must be on sys.path before the project imports)
from __future__ import annotations

import argparse
import datetime
import gc
import itertools
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vulndb import matching, versions
from vulndb.records import Affected, Range
from vulns.packages import Package

DEBIAN_RELEASES = ("Debian:11", "Debian:12")
ALPINE_RELEASES = ("Alpine:v3.19", "Alpine:v3.20")
# Share of the advisories per kind, roughly as OSV's all.zip files weigh them: most npm
# records are MAL- (malicious package) records, one never-installed name each.
SHARES = {"Debian": 0.45, "Alpine": 0.10, "PyPI": 0.15, "npm": 0.08, "npm-malware": 0.22}
NAMES = {"Debian": 8000, "Alpine": 1500, "PyPI": 6000, "npm": 4000}
# Advisories per package fall off as a power of its rank: the busiest Debian source gets
# ~6,000 per release, as the kernel does in Debian's data, the 100th ~100; the busiest PyPI
# package ~400 (as tensorflow), npm ~250.
SKEW = {"Debian": 0.9, "Alpine": 0.9, "PyPI": 0.6, "npm": 0.6}
# The image: Debian 12 sources (the kernel, browsers and mail clients, the 20 busiest, are not
# in container images) of ~3 binaries each, then PyPI and npm packages. It holds the busier
# packages more often than the rest, but most of its packages are in the long tail.
IMAGE_SHARES = {"Debian": 0.65, "PyPI": 0.22, "npm": 0.13}
IMAGE_SKEW = 0.5
SKIP_BUSIEST = 20
UP_TO_DATE = 0.7  # share of packages at the newest version their advisories name


@dataclass
class Corpus:
    entries: list[tuple[str, Affected]]
    advisories: int
    # "ecosystem/name" -> the versions its advisories name, to draw installed versions from
    names: dict[str, list[str]]


class Names:
    """Package names drawn by a power of their rank, with cumulative weights computed once
    (random.choices recomputes them on every call otherwise)."""

    def __init__(self, family: str, skew: float, skip: int = 0) -> None:
        count = NAMES[family]
        self.names = [f"{family.lower()}-pkg-{i}" for i in range(count)]
        self.cumulative = list(
            itertools.accumulate(0 if i < skip else 1 / (i + 1) ** skew for i in range(count))
        )

    def draw(self, rng: random.Random) -> str:
        return rng.choices(self.names, cum_weights=self.cumulative)[0]


def debian_version(rng: random.Random, release: str) -> str:
    epoch = f"{rng.randint(1, 2)}:" if rng.random() < 0.08 else ""
    upstream = f"{rng.randint(0, 9)}.{rng.randint(0, 40)}"
    if rng.random() < 0.5:
        upstream += f".{rng.randint(0, 20)}"
    if rng.random() < 0.1:
        upstream += f"~rc{rng.randint(1, 3)}"
    revision = f"{rng.randint(1, 12)}"
    if rng.random() < 0.6:
        revision += f"+deb{release[-2:]}u{rng.randint(1, 9)}"
    return f"{epoch}{upstream}-{revision}"


def semver_version(rng: random.Random) -> str:
    version = f"{rng.randint(0, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 30)}"
    if rng.random() < 0.05:
        version += f"-{rng.choice(['alpha', 'beta', 'rc'])}.{rng.randint(1, 4)}"
    return version


def pep440_version(rng: random.Random) -> str:
    version = f"{rng.randint(0, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 30)}"
    return version + (f"rc{rng.randint(1, 3)}" if rng.random() < 0.05 else "")


def alpine_version(rng: random.Random) -> str:
    version = f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}"
    if rng.random() < 0.1:
        version += f"_p{rng.randint(1, 9)}"
    return f"{version}-r{rng.randint(0, 12)}"


def corpus(rng: random.Random, advisories: int) -> Corpus:
    entries: list[tuple[str, Affected]] = []
    seen: dict[str, list[str]] = {}
    pools = {fam: Names(fam, skew) for fam, skew in SKEW.items()}
    made = 0
    for kind, share in SHARES.items():
        for _ in range(int(advisories * share)):
            made += 1
            if kind == "npm-malware":
                rngs = (Range("SEMVER", (("introduced", "0"),)),)
                entries.append((f"MAL-2099-{made}", Affected("npm", f"mal-{made}", rngs)))
                continue
            name = pools[kind].draw(rng)
            if kind == "Debian":
                ident = f"DEBIAN-CVE-2099-{made:06d}"
                for release in DEBIAN_RELEASES:
                    fixed = debian_version(rng, release) if rng.random() < 0.7 else None
                    events = (("introduced", "0"),) + ((("fixed", fixed),) if fixed else ())
                    if fixed:
                        seen.setdefault(f"{release}/{name}", []).append(fixed)
                    rngs = (Range("ECOSYSTEM", events),)
                    entries.append((ident, Affected(release, name, rngs)))
            elif kind == "Alpine":
                ident = f"ALPINE-CVE-2099-{made:06d}"
                for release in rng.sample(ALPINE_RELEASES, rng.randint(1, 2)):
                    fixed = alpine_version(rng)
                    seen.setdefault(f"{release}/{name}", []).append(fixed)
                    rngs = (Range("ECOSYSTEM", (("introduced", "0"), ("fixed", fixed))),)
                    entries.append((ident, Affected(release, name, rngs)))
            else:
                ident = f"GHSA-{made:05x}-bench-{kind.lower()}"
                make = pep440_version if kind == "PyPI" else semver_version
                low, high = sorted([make(rng), make(rng)], key=lambda v: versions.sort_key(kind, v))
                end = "fixed" if rng.random() < 0.85 else "last_affected"
                start = "0" if rng.random() < 0.4 else low
                rtype = "ECOSYSTEM" if kind == "PyPI" else "SEMVER"
                rngs = (Range(rtype, (("introduced", start), (end, high))),)
                listed: tuple[str, ...] = ()
                if kind == "PyPI" and rng.random() < 0.3:  # PYSEC lists every release
                    listed = tuple(make(rng) for _ in range(rng.randint(5, 60)))
                seen.setdefault(f"{kind}/{name}", []).append(high)
                entries.append((ident, Affected(kind, name, rngs, listed)))
    return Corpus(entries, made, seen)


def installed(rng: random.Random, data: Corpus, eco: str, name: str) -> str:
    named = data.names.get(f"{eco}/{name}")
    if named and rng.random() < UP_TO_DATE:
        return max(named, key=lambda v: versions.sort_key(eco, v))
    if named:
        return rng.choice(named)
    if eco.startswith("Debian"):
        return debian_version(rng, eco)
    return pep440_version(rng) if eco == "PyPI" else semver_version(rng)


def image(rng: random.Random, data: Corpus, size: int) -> list[Package]:
    packages: list[Package] = []
    for fam, share in IMAGE_SHARES.items():
        eco = "Debian:12" if fam == "Debian" else fam
        pool = Names(fam, IMAGE_SKEW, SKIP_BUSIEST if fam == "Debian" else 0)
        chosen: set[str] = set()
        start, wanted = len(packages), int(size * share)
        while len(packages) - start < wanted:
            name = pool.draw(rng)
            if name in chosen:
                continue
            chosen.add(name)
            version = installed(rng, data, eco, name)
            if fam != "Debian":
                packages.append(Package(eco, name, version))
                continue
            # Binaries of one source share its name and version; a binNMU's binary version
            # has "+bN" its source lacks. All match by the source's name and version.
            for binary in (name, f"lib{name}", f"{name}-bin", f"{name}-data", f"{name}-dev"):
                if binary == name or rng.random() < 0.5:
                    built = version + "+b1" if rng.random() < 0.1 else version
                    packages.append(Package(eco, binary, built, name, version))
        del packages[start + wanted :]  # a source's binaries may overshoot
    return packages


def floor(packages: list[Package], buckets: dict[tuple[str, str], list[str]]) -> int:
    """The same lookups as match(), and a walk over every candidate, with no version work."""
    hits = 0
    for package in packages:
        for _advisory in buckets.get((package.ecosystem, package.match_name), ()):
            hits += 1
    return hits


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], list[float], Any]:
    """Wall and CPU seconds of each call: the machine may be shared, and CPU time is what a
    call costs whatever else runs."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return walls, cpus, result


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def row(name: str, walls: list[float], cpus: list[float], floor_wall: float) -> str:
    med = statistics.median(walls)
    return (
        f"| {name} | {med * 1000:.1f} | {p95(walls) * 1000:.1f}"
        f" | {statistics.median(cpus) * 1000:.1f} | {med / floor_wall:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--advisories", type=int, default=200_000)
    parser.add_argument("--packages", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--distinct", type=int, default=20, help="images drawn anew")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if args.repeat < 2:
        parser.error("--repeat needs at least 2 rounds for a p95")
    rng = random.Random(args.seed)

    started = time.perf_counter()
    data = corpus(rng, args.advisories)
    generated = time.perf_counter() - started
    packages = image(rng, data, args.packages)
    others = [image(rng, data, args.packages) for _ in range(args.distinct)]
    # The floor's buckets hold advisory ids only; the records themselves are then held by the
    # index alone, as in a worker that loaded them to build it.
    buckets: dict[tuple[str, str], list[str]] = {}
    for ident, affected in data.entries:
        buckets.setdefault((affected.ecosystem, affected.name), []).append(ident)
    before = rss_mib()

    started = time.perf_counter()
    index = matching.Index(data.entries)
    built = time.perf_counter() - started
    advisories, data.entries = data.advisories, []
    first_wall, _, first = timed(lambda: matching.match(packages, index), 1)
    walls, cpus, found = timed(lambda: matching.match(packages, index), args.repeat)
    assert found == first
    floor_walls, floor_cpus, candidates = timed(lambda: floor(packages, buckets), args.repeat)

    started = time.perf_counter()
    index.warm()
    warmed = time.perf_counter() - started
    index_mib = rss_mib() - before
    distinct = [timed(lambda p=p: matching.match(p, index), 1) for p in others]

    fmed = statistics.median(floor_walls)
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if "model name" in ln), "?")
    fixed = sum(m.fixed_version is not None for m in found)
    print(
        "\n".join(
            [
                f"## match(): {len(packages)} packages against {advisories:,} advisories"
                f" ({len(index):,} entries); {args.repeat} runs",
                "",
                f"- {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; CPU {model},"
                f" nproc {len(os.sched_getaffinity(0))}; Python {sys.version.split()[0]};"
                f" load average {os.getloadavg()[0]:.2f} at the end",
                f"- {len(found):,} matches ({fixed:,} with a fix) over {candidates:,} candidate"
                f" entries; corpus generated in {generated:.1f} s",
                "",
                "| measurement | median ms | p95 ms | median CPU ms | × floor |",
                "|---|---:|---:|---:|---:|",
                row("match()", walls, cpus, fmed),
                row(
                    "floor: the same lookups, a walk over every candidate",
                    floor_walls,
                    floor_cpus,
                    fmed,
                ),
                row(
                    f"match() of {args.distinct} other images (versions drawn anew)",
                    [d[0][0] for d in distinct],
                    [d[1][0] for d in distinct],
                    fmed,
                ),
                "",
                f"- Index(): {built:.2f} s; the first match(), which compiles the buckets it"
                f" touches: {first_wall[0] * 1000:.0f} ms; compiling every other bucket"
                f" (warm()): {warmed:.1f} s; {index.skipped} entries skipped",
                f"- RSS: {before:.0f} MiB with the generated corpus, {index_mib:+.0f} MiB once"
                f" the index holds it alone and is warmed; max RSS"
                f" {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB",
            ]
        )
    )


if __name__ == "__main__":
    main()
