"""The read-only sh script of the host checks, one round at a time (scans.hostaccess runs
it and parses its answer; contrib/ssh/posture-ssh-gate pins its fixed lines by sha256).

Every path is single-quoted by shlex.quote, so none can inject shell syntax; the commands
are reads only (stat, head, grep, od, the /proc listing, `auditctl -l`), each capped.

Forks are what a round costs the host, and the last rounds are a rescan's critical path
(docs/BENCHMARKS.md, issue 15): a path Posture asked for is therefore named in the answer
by its place in the plan (`i7`: the 7th `st`/`rd` line of the round, see Plan.labels), not
hex-encoded by three processes on the host; only a name the host made up (an entry of a
listed directory) goes through `hx`. Either way no file name can split or forge a record.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from rules.host_access import (
    BASE_READS,
    BASE_STATS,
    LISTED_READS,
    LISTED_STATS,
    MOUNTINFO,
    PACKAGE_GREPS,
)

HEADER = b"POSTURE-HOST 1"
FILE_CAP = 64 * 1024
LARGE_CAP = 256 * 1024  # mount table and auditctl output
TOTAL_CAP = 2 * 1024 * 1024
MAX_ENTRIES = 200  # per listed directory
# Per-container mounts (overlay layers, shm, network namespaces) are left out of the mount
# table: thousands of them on a busy host, and none is the data-root.
MOUNT_NOISE = ("/overlay2/", "/mounts/shm ", "/netns/")

# `st`/`rd` are the round's own lines (labelled by their rank, counted in i); `st_`/`rd_`
# take the label to print, for the listings' entries `hx` of the name. `head -c` reads a
# file itself: one process fewer per read than `cat | head`. Half the paths of a first
# round are absent on any one host: `absent` proves it with test(1) alone (the nearest
# existing ancestor, no symlink in the way, is a searchable directory: stat would say
# ENOENT; or not a directory: ENOTDIR), and anything less certain is left to stat.
PRELUDE = r"""
LC_ALL=C
export LC_ALL
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
i=0
hx() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
st() {
  i=$((i + 1))
  if [ -e "$1" ] || [ -L "$1" ] || ! absent "$1"; then st_ "$1" "i$i"
  else printf 'SN i%d\n' "$i"; fi
}
absent() {
  a=$1
  while a=${a%/*}; [ -n "$a" ]; do
    [ -L "$a" ] && return 1
    if [ -e "$a" ]; then
      [ -d "$a" ] || return 0
      [ -x "$a" ]
      return
    fi
  done
  return 0
}
rd() { i=$((i + 1)); rd_ "$1" "$2" "i$i" "${3-}"; }
st_() {
  if o=$(stat -L -c '%u %g %f %U %G' -- "$1" 2>&1); then
    printf 'S %s %s\n' "$2" "$o"
  else
    case $o in
      *'ermission denied'*) printf 'SD %s\n' "$2" ;;
      *'o such file'*|*'ot a directory'*) printf 'SN %s\n' "$2" ;;
      *) printf 'SE %s\n' "$2" ;;
    esac
  fi
}
rd_() {
  if [ -f "$1" ] && [ -r "$1" ]; then
    printf 'F %s ' "$3"
    if [ -n "$4" ]; then
      grep -E -A 15 -e "$4" -- "$1" | head -c "$2" | od -An -v -tx1 | tr -d ' \n'
    else
      head -c "$2" -- "$1" | od -An -v -tx1 | tr -d ' \n'
    fi
    printf '\n'
  elif [ -f "$1" ]; then printf 'FD %s\n' "$3"
  fi
}
ls_do() {
  [ -d "$1" ] || return 0
  if [ ! -r "$1" ] || [ ! -x "$1" ]; then printf 'LD %s\n' "$4"; return 0; fi
  n=0
  for f in "$1"/*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    [ "$n" -ge MAX_ENTRIES ] && break
    case $f in *"$3") ;; *) continue ;; esac
    if [ "$2" = read ]; then rd_ "$f" FILE_CAP "$(hx "$f")"; else st_ "$f" "$(hx "$f")"; fi
    n=$((n + 1))
  done
  printf 'L %s %d\n' "$4" "$n"
}
"""

PROCESS_PART = r"""
if [ -d /proc/self ]; then
  for d in /proc/[0-9]*; do
    c=
    read -r c < "$d/comm" || continue
    [ "$c" = dockerd ] || continue
    printf 'P %s ' "${d#/proc/}"
    head -c FILE_CAP "$d/cmdline" | od -An -v -tx1 | tr -d ' \n'
    printf '\n'
  done
  echo 'PS ok'
  if [ -r /proc/self/mountinfo ]; then
    printf 'F %s ' MOUNTINFO_HEX
    grep -v MOUNT_FILTER /proc/self/mountinfo | head -c LARGE_CAP | od -An -v -tx1 | tr -d ' \n'
    printf '\n'
  fi
else
  echo 'PS none'
fi
if command -v auditctl >/dev/null 2>&1; then
  o=$(auditctl -l 2>&1)
  r=$?
  printf 'X auditctl %d ' "$r"
  printf '%s' "$o" | head -c LARGE_CAP | od -An -v -tx1 | tr -d ' \n'
  printf '\n'
else
  echo 'XN auditctl'
fi
"""


@dataclass
class Plan:
    stats: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    list_stats: tuple[str, ...] = ()  # two levels deep: certs.d/<registry>/<file>
    list_reads: tuple[tuple[str, str], ...] = ()  # (directory, suffix)
    greps: tuple[tuple[str, str], ...] = ()  # (file, pattern): its matching stanzas only
    system: bool = False  # processes, mount table, auditctl

    @property
    def empty(self) -> bool:
        return not (self.stats or self.reads or self.list_stats or self.list_reads or self.system)

    def labels(self) -> list[tuple[str, str]]:
        """(kind, path) of the round's `st`/`rd` lines in the order build_script writes them:
        the answer's label `iN` is the Nth."""
        return [
            *(("stat", p) for p in self.stats),
            *(("read", p) for p in self.reads),
            *(("read", p) for p, _ in self.greps),
        ]

    def allows(self, path: str) -> bool:
        """Whether a path in the answer is one this plan asked about."""
        if path in self.stats or path in self.reads or (path == MOUNTINFO and self.system):
            return True
        if any(path == file for file, _ in self.greps):
            return True
        parents = [d for d, _ in self.list_reads] + list(self.list_stats)
        return path in parents or any(path.startswith(d.rstrip("/") + "/") for d in parents)


def base_plan() -> Plan:
    return Plan(
        stats=list(BASE_STATS),
        reads=list(BASE_READS),
        list_stats=LISTED_STATS,
        list_reads=LISTED_READS,
        greps=PACKAGE_GREPS,
        system=True,
    )


def hexed(path: str) -> str:
    return path.encode().hex()


def build_script(plan: Plan) -> str:
    """The script for one round; paths are single-quoted, so none can inject shell syntax."""
    q = shlex.quote
    lines = ["{", "exec 2>/dev/null", PRELUDE, "echo 'POSTURE-HOST 1'"]
    # The order of Plan.labels.
    lines += [f"st {q(p)}" for p in plan.stats]
    lines += [f"rd {q(p)} {FILE_CAP}" for p in plan.reads]
    lines += [f"rd {q(p)} {FILE_CAP} {q(pattern)}" for p, pattern in plan.greps]
    for directory in plan.list_stats:
        lines.append(f"ls_do {q(directory)} stat '' {hexed(directory)}")
        each = 'ls_do "$s" stat \'\' "$(hx "$s")"'
        lines.append(f'for s in {q(directory)}/*; do [ -d "$s" ] && {each}; done')
    lines += [f"ls_do {q(d)} read {q(suffix)} {hexed(d)}" for d, suffix in plan.list_reads]
    if plan.system:
        grep_filter = " ".join(f"-e {q(noise)}" for noise in MOUNT_NOISE)
        part = PROCESS_PART.replace("MOUNT_FILTER", grep_filter)
        lines.append(part.replace("MOUNTINFO_HEX", hexed(MOUNTINFO)))
    lines += ["echo END", "} </dev/null", ""]
    script = "\n".join(lines)
    for name, value in (("MAX_ENTRIES", MAX_ENTRIES), ("FILE_CAP", FILE_CAP)):
        script = script.replace(name, str(value))
    return script.replace("LARGE_CAP", str(LARGE_CAP))
