"""Host-level facts over the scan's existing SSH connection (CIS sections 1 and 3).

One exec channel runs a read-only POSIX sh script, fed on stdin to `/bin/sh -s` so that
neither the user's login shell nor ARG_MAX matters. It stats the paths of
rules.host_access, reads the small configuration files, lists the dockerd
processes' command lines from /proc, runs `auditctl -l` and reads the mount table. A
second (rarely a third) channel stats what the first answers name: --config-file, TLS
material, data-root and unix sockets.

Output format: one record per line, `TAG field...`, every field either from a fixed
alphabet (digits, hex mode, `iN`: the Nth path the round asked about) or hex-encoded (names
found in listings, contents, command output), so no file name or file content can forge or
split a record. The script itself is scans.hostscript. The parser accepts only lines that match
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
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import paramiko

from rules.facts import FileStat, HostAccess
from rules.host_access import (
    AUDITCTL,
    AUDITCTL_MISSING,
    COLLECTION,
    DOCKERD_PREFIX,
    MOUNTINFO,
    PROCESSES,
    listed_key,
    listing_denied,
)
from rules.host_dockerd import referenced_paths
from scans.hostscript import (  # re-exported: the script's users import it from here
    FILE_CAP,
    HEADER,
    LARGE_CAP,
    TOTAL_CAP,
    Plan,
    base_plan,
    build_script,
)

if TYPE_CHECKING:  # a runtime import would close a cycle: transports.hostshell imports this
    from scans.transports.base import Deadline

log = logging.getLogger(__name__)

READ_TIMEOUT = 30.0
MAX_ROUNDS = 3
DataRoot = str | None | Callable[[], str | None]  # see collect_host


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


# A path is hex (a name the host listed, or a fixed one) or `iN`, the Nth path of the plan.
PATH = rb"(?:[0-9a-f]+|i[1-9][0-9]{0,5})"
RECORD = re.compile(
    rb"(?P<tag>S) (?P<path>" + PATH + rb") (?P<uid>\d{1,10}) (?P<gid>\d{1,10})"
    rb" (?P<mode>[0-9a-f]{1,8}) (?P<user>[!-~\x80-\xff]{1,64}) (?P<group>[!-~\x80-\xff]{1,64})"
    rb"|(?P<tag2>SN|SD|SE|FD|LD) (?P<path2>" + PATH + rb")"
    rb"|(?P<tag3>F) (?P<path3>" + PATH + rb") (?P<data3>[0-9a-f]*)"
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


def decode_path(data: bytes, plan: Plan, kind: str = "") -> str | None:
    """The path a record names, if the plan asked about it; `kind` ("stat" or "read"): the
    kind of line an `iN` label must name (a stat record cannot name a read's path)."""
    if data.startswith(b"i"):
        labels = plan.labels()
        rank = int(data[1:])
        return labels[rank - 1][1] if rank <= len(labels) and labels[rank - 1][0] == kind else None
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
        path = decode_path(match["path"], plan, "stat")
        if path is not None:
            access.files[path] = file_stat(path, match)
        return path is not None
    if match["tag2"]:
        tag = match["tag2"]
        kind = {b"FD": "read", b"LD": ""}.get(tag, "stat")  # a listing is always hex
        path = decode_path(match["path2"], plan, kind)
        if path is None:
            return False
        if tag == b"SN":
            access.files[path] = FileStat(path, exists=False)
        elif tag in (b"SD", b"FD"):
            access.denied.add(path)
        elif tag == b"LD":
            access.denied.add(listing_denied(path))
        return True  # SE: an error other than absence or refusal leaves the path unknown
    if match["tag3"]:
        path = decode_path(match["path3"], plan, "read")
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
