"""Host-level facts over the scan's existing SSH connection (CIS sections 1 and 3).

One exec channel runs a read-only POSIX sh script, fed on stdin to `/bin/sh -s` so that
neither the user's login shell nor ARG_MAX matters. It stats the paths of
rules.host_access, reads the small configuration files, lists the dockerd
processes' command lines from /proc, runs `auditctl -l` and reads the mount table. A
second (rarely a third) channel stats what the first answers name: --config-file, TLS
material, data-root and unix sockets.

Output format: one record per line, `TAG field...`, every field either from a fixed
alphabet (digits, hex mode) or hex-encoded (paths, contents, command output), so no file
name or file content can forge or split a record. The parser accepts only lines that match
one grammar exactly, only for paths it asked about, and never evaluates anything.
Limits: 64 KB per file (256 KB for the mount table and auditctl), 2 MB in all, each read
bounded by the scan's deadline.

Failure policy: collection never raises. A channel that cannot be opened, a shell that
does not run the script, a timeout, an oversized or garbled answer all leave a partial
HostAccess (what was parsed before the fault) with commands["collection"] saying why, so
the API scan still counts and the host rules turn each missing path into UNKNOWN instead
of failing the whole scan with MALFORMED.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shlex
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import paramiko

from rules.facts import FileStat, HostAccess
from rules.host_access import (
    AUDITCTL,
    AUDITCTL_MISSING,
    BASE_READS,
    BASE_STATS,
    COLLECTION,
    DOCKERD_PREFIX,
    LISTED_READS,
    LISTED_STATS,
    MOUNTINFO,
    PACKAGE_GREPS,
    PROCESSES,
    listed_key,
    listing_denied,
)
from rules.host_dockerd import referenced_paths
from scans.transports.base import Deadline

log = logging.getLogger(__name__)

HEADER = b"POSTURE-HOST 1"
FILE_CAP = 64 * 1024
LARGE_CAP = 256 * 1024  # mount table and auditctl output
TOTAL_CAP = 2 * 1024 * 1024
MAX_ENTRIES = 200  # per listed directory
READ_TIMEOUT = 30.0
MAX_ROUNDS = 3
# Per-container mounts (overlay layers, shm, network namespaces) are left out of the mount
# table: thousands of them on a busy host, and none is the data-root.
MOUNT_NOISE = ("/overlay2/", "/mounts/shm ", "/netns/")
DataRoot = str | None | Callable[[], str | None]  # see collect_host

PRELUDE = r"""
LC_ALL=C
export LC_ALL
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
hx() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
st() {
  if o=$(stat -L -c '%u %g %f %U %G' -- "$1" 2>&1); then
    printf 'S %s %s\n' "$(hx "$1")" "$o"
  else
    case $o in
      *'ermission denied'*) printf 'SD %s\n' "$(hx "$1")" ;;
      *'o such file'*|*'ot a directory'*) printf 'SN %s\n' "$(hx "$1")" ;;
      *) printf 'SE %s\n' "$(hx "$1")" ;;
    esac
  fi
}
rd() {
  if [ -f "$1" ] && [ -r "$1" ]; then
    printf 'F %s ' "$(hx "$1")"
    if [ -n "$3" ]; then grep -E -A 15 -e "$3" -- "$1"; else cat -- "$1"; fi |
      head -c "$2" | od -An -v -tx1 | tr -d ' \n'
    printf '\n'
  elif [ -f "$1" ]; then printf 'FD %s\n' "$(hx "$1")"
  fi
}
ls_do() {
  [ -d "$1" ] || return 0
  if [ ! -r "$1" ] || [ ! -x "$1" ]; then printf 'LD %s\n' "$(hx "$1")"; return 0; fi
  n=0
  for f in "$1"/*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    [ "$n" -ge MAX_ENTRIES ] && break
    case $f in *"$3") ;; *) continue ;; esac
    if [ "$2" = read ]; then rd "$f" FILE_CAP; else st "$f"; fi
    n=$((n + 1))
  done
  printf 'L %s %d\n' "$(hx "$1")" "$n"
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
    printf 'F %s ' "$(hx /proc/self/mountinfo)"
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


def build_script(plan: Plan) -> str:
    """The script for one round; paths are single-quoted, so none can inject shell syntax."""
    q = shlex.quote
    lines = ["{", "exec 2>/dev/null", PRELUDE, "echo 'POSTURE-HOST 1'"]
    lines += [f"st {q(p)}" for p in plan.stats]
    lines += [f"rd {q(p)} {FILE_CAP}" for p in plan.reads]
    lines += [f"rd {q(p)} {FILE_CAP} {q(pattern)}" for p, pattern in plan.greps]
    for directory in plan.list_stats:
        lines.append(f"ls_do {q(directory)} stat ''")
        lines.append(f'for s in {q(directory)}/*; do [ -d "$s" ] && ls_do "$s" stat \'\'; done')
    lines += [f"ls_do {q(d)} read {q(suffix)}" for d, suffix in plan.list_reads]
    if plan.system:
        grep_filter = " ".join(f"-e {q(noise)}" for noise in MOUNT_NOISE)
        lines.append(PROCESS_PART.replace("MOUNT_FILTER", grep_filter))
    lines += ["echo END", "} </dev/null", ""]
    script = "\n".join(lines)
    for name, value in (("MAX_ENTRIES", MAX_ENTRIES), ("FILE_CAP", FILE_CAP)):
        script = script.replace(name, str(value))
    return script.replace("LARGE_CAP", str(LARGE_CAP))


class CollectionError(Exception):
    pass


class HostShell:
    """One `/bin/sh -s` on the host for every round of a collection.

    A channel costs the host a login shell (and whatever the user's rc files run: 180 ms
    measured here); rounds two and three are written to the same shell instead. Each round
    is a `{ ...; echo END; } </dev/null` group, so a command in it cannot read the next
    round from stdin, and END tells where the round's answer stops.
    """

    def __init__(self, client: paramiko.SSHClient, deadline: Deadline) -> None:
        self.client = client
        self.deadline = deadline
        self.channel: paramiko.Channel | None = None

    def _open(self) -> paramiko.Channel:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise CollectionError("the SSH connection is closed")
        if self.deadline.remaining() < 1:
            raise CollectionError("no time left in the scan's budget")
        try:
            channel = transport.open_session(timeout=min(self.deadline.remaining(), READ_TIMEOUT))
            channel.settimeout(min(self.deadline.remaining(), READ_TIMEOUT))
            channel.exec_command("/bin/sh -s")
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise CollectionError(f"the SSH server refused a channel ({exc})") from None
        return channel

    def run(self, script: str, cap: int) -> tuple[bytes, str]:
        """(stdout, problem): what the round printed, and why it stopped early ("" if not)."""
        if self.channel is None:
            self.channel = self._open()
        channel = self.channel
        chunks: list[bytes] = []
        size, problem, ended, tail = 0, "", False, b""
        try:
            channel.sendall(script.encode())
            while True:
                left = self.deadline.remaining()
                if left <= 0:
                    problem = "the scan's time budget ran out"
                    break
                channel.settimeout(min(left, READ_TIMEOUT))
                data = channel.recv(65536)
                while channel.recv_stderr_ready():
                    channel.recv_stderr(65536)  # drained so a chatty shell cannot stall us
                if not data:
                    ended = True
                    break
                if size + len(data) > cap:
                    chunks.append(data[: cap - size])
                    problem = f"the host's answer exceeded the {TOTAL_CAP}-byte cap"
                    break
                size += len(data)
                chunks.append(data)
                tail = (tail + data)[-5:]
                if tail == b"\nEND\n":  # the round is over; the shell waits for the next
                    break
            if ended and channel.exit_status_ready() and channel.recv_exit_status() != 0:
                problem = f"the host's shell exited with status {channel.recv_exit_status()}"
        except TimeoutError:
            problem = "the host stopped answering (timed out)"
        except (paramiko.SSHException, OSError, EOFError) as exc:
            problem = f"the SSH channel failed ({exc})"
        if problem or ended:
            self.close()
        return b"".join(chunks), problem

    def close(self) -> None:
        if self.channel is not None:
            channel, self.channel = self.channel, None
            with contextlib.suppress(Exception):
                channel.shutdown_write()
            channel.close()


RECORD = re.compile(
    rb"(?P<tag>S) (?P<path>[0-9a-f]+) (?P<uid>\d{1,10}) (?P<gid>\d{1,10}) (?P<mode>[0-9a-f]{1,8})"
    rb" (?P<user>[!-~\x80-\xff]{1,64}) (?P<group>[!-~\x80-\xff]{1,64})"
    rb"|(?P<tag2>SN|SD|SE|FD|LD) (?P<path2>[0-9a-f]+)"
    rb"|(?P<tag3>F) (?P<path3>[0-9a-f]+) (?P<data3>[0-9a-f]*)"
    rb"|L (?P<path4>[0-9a-f]+) (?P<count4>\d{1,6})"
    rb"|P (?P<pid5>\d{1,10}) (?P<data5>[0-9a-f]*)"
    rb"|PS (?P<ps6>ok|none)"
    rb"|X auditctl (?P<rc7>\d{1,3}) (?P<data7>[0-9a-f]*)"
    rb"|(?P<xn8>XN auditctl)"
    rb"|(?P<end9>END)"
)
KINDS = {
    **{stat.S_IFREG: "file", stat.S_IFDIR: "directory", stat.S_IFSOCK: "socket"},
    **{stat.S_IFLNK: "symlink", stat.S_IFIFO: "fifo", stat.S_IFCHR: "character device"},
    stat.S_IFBLK: "block device",
}
DENIED_OUTPUT = ("permission denied", "operation not permitted", "must be root")


@dataclass
class Parsed:
    complete: bool = False  # the END record arrived
    header: bool = False
    rejected: int = 0  # lines that matched no record or named a path not asked about


def unhex(data: bytes) -> bytes | None:
    try:
        return bytes.fromhex(data.decode("ascii"))
    except ValueError:
        return None


def decode_path(data: bytes, plan: Plan) -> str | None:
    raw = unhex(data)
    if raw is None or not raw.startswith(b"/") or b"\0" in raw:
        return None
    path = raw.decode("utf-8", "replace")
    return path if plan.allows(path) else None


def owner_name(number: int, name: str) -> str:
    """The name for a uid or gid, or the number when it has no trustworthy name.

    Only id 0 is called root: a second account named "root" must not pass an ownership
    check, and busybox prints UNKNOWN for an id without a name.
    """
    if number == 0:
        return "root"
    return str(number) if name in ("UNKNOWN", "root") or name.isdigit() else name


def file_stat(path: str, match: re.Match[bytes]) -> FileStat:
    mode = int(match["mode"], 16)
    return FileStat(
        path=path,
        exists=True,
        kind=KINDS.get(stat.S_IFMT(mode), "other"),
        owner=owner_name(int(match["uid"]), match["user"].decode("utf-8", "replace")),
        group=owner_name(int(match["gid"]), match["group"].decode("utf-8", "replace")),
        mode=stat.S_IMODE(mode),
    )


def text(data: bytes, cap: int) -> str:
    return data[:cap].decode("utf-8", "replace")


def parse_output(output: bytes, plan: Plan, access: HostAccess) -> Parsed:
    """Fold one round's answer into `access`; lines that are not records are dropped."""
    result = Parsed()
    for line in output.split(b"\n"):
        if not result.header:
            # A login shell's rc files may print before the script starts: skip to the header.
            result.header = line == HEADER
            continue
        match = RECORD.fullmatch(line)
        if match is None or result.complete or not _apply(match, plan, access):
            result.rejected += bool(line)
            continue
        result.complete = match["end9"] is not None
    return result


def _apply(match: re.Match[bytes], plan: Plan, access: HostAccess) -> bool:
    if match["tag"]:
        path = decode_path(match["path"], plan)
        if path is not None:
            access.files[path] = file_stat(path, match)
        return path is not None
    if match["tag2"]:
        path = decode_path(match["path2"], plan)
        if path is None:
            return False
        tag = match["tag2"]
        if tag == b"SN":
            access.files[path] = FileStat(path, exists=False)
        elif tag in (b"SD", b"FD"):
            access.denied.add(path)
        elif tag == b"LD":
            access.denied.add(listing_denied(path))
        return True  # SE: an error other than absence or refusal leaves the path unknown
    if match["tag3"]:
        path = decode_path(match["path3"], plan)
        data = unhex(match["data3"])
        if path is None or data is None:
            return False
        access.texts[path] = text(data, LARGE_CAP if path == MOUNTINFO else FILE_CAP)
        return True
    if match["path4"]:
        path = decode_path(match["path4"], plan)
        if path is not None:
            access.commands[listed_key(path)] = match["count4"].decode()
        return path is not None
    if match["pid5"]:
        data = unhex(match["data5"])
        if data is not None and plan.system:
            access.commands[DOCKERD_PREFIX + match["pid5"].decode()] = text(data, FILE_CAP)
        return data is not None and plan.system
    if match["ps6"]:
        access.commands[PROCESSES] = "ok" if match["ps6"] == b"ok" else "unavailable"
        return plan.system
    if match["rc7"]:
        return _auditctl(int(match["rc7"]), unhex(match["data7"]), access)
    if match["xn8"]:
        access.commands[AUDITCTL_MISSING] = "not installed"
        return plan.system
    return True  # END


def _auditctl(status: int, data: bytes | None, access: HostAccess) -> bool:
    if data is None:
        return False
    output = text(data, LARGE_CAP)
    if status == 0:
        access.commands[AUDITCTL] = output
    elif any(marker in output.lower() for marker in DENIED_OUTPUT):
        access.denied.add(AUDITCTL)
    else:  # e.g. no audit support in the kernel: the rules files are the fallback
        access.commands[AUDITCTL_MISSING] = f"failed: {output.strip()[:200]}"
    return True


class Shell(Protocol):
    """Where a round's script runs: the host's sh over SSH (HostShell) or, for a daemon on
    the worker's own machine, a local sh (scans.hostlocal.LocalShell)."""

    def run(self, script: str, cap: int) -> tuple[bytes, str]: ...

    def close(self) -> None: ...


@runtime_checkable
class ShellHost(Protocol):  # an SSH connection with its own shells (transports.openssh)
    def shell(self, deadline: Deadline) -> Shell: ...


def collect_host(
    client: paramiko.SSHClient | ShellHost, deadline: Deadline, data_root: DataRoot = None
) -> HostAccess:
    """What SSH shows of the host; never raises (see the module docstring). `data_root` is
    the scanned daemon's (from /info), or a function that waits for it (asked after round 1,
    so that round runs while the Engine API is read: scans.hostchecks)."""
    shell = client.shell(deadline) if isinstance(client, ShellHost) else HostShell(client, deadline)
    return collect_with(shell, data_root, via="ssh")


def collect_with(shell: Shell, data_root: DataRoot, via: str) -> HostAccess:
    """The same rounds through any shell; `via` says which ("ssh" or "local")."""
    access = HostAccess(via=via)
    problems: list[str] = []
    try:
        _rounds(shell, base_plan(), access, problems, data_root)
    except Exception as exc:  # noqa: BLE001 - the API scan must survive any fault here
        log.exception("host collection crashed")
        problems.append(f"internal error ({type(exc).__name__})")
    finally:
        shell.close()
    access.commands[COLLECTION] = "incomplete: " + "; ".join(problems) if problems else "complete"
    if problems:
        log.info("host collection incomplete: %s", "; ".join(problems))
    return access


def _rounds(
    shell: Shell,
    plan: Plan,
    access: HostAccess,
    problems: list[str],
    data_root: DataRoot,
) -> None:
    asked_stats: set[str] = set()
    asked_reads: set[str] = set()
    budget = TOTAL_CAP
    for _ in range(MAX_ROUNDS):
        try:
            output, problem = shell.run(build_script(plan), budget)
        except CollectionError as exc:
            problems.append(str(exc))
            return
        budget -= len(output)
        parsed = parse_output(output, plan, access)
        if not problem and not parsed.header:
            problem = "the host's shell did not run the collection script"
        elif not problem and not parsed.complete:
            problem = "the host's answer was cut off"
        if problem:
            problems.append(problem)
            return
        if parsed.rejected:
            # The paths of those lines stay unknown; the rest of the answer still counts.
            problems.append(f"{parsed.rejected} unreadable line(s) in the host's answer")
        asked_stats.update(plan.stats)
        asked_reads.update(plan.reads)
        data_root = data_root() if callable(data_root) else data_root
        stats, reads = referenced_paths(access, data_root)
        plan = Plan(stats=_new(stats, asked_stats), reads=_new(reads, asked_reads))
        if plan.empty:
            return


def _new(paths: Iterable[str], asked: set[str]) -> list[str]:
    return sorted(set(paths) - asked)
