"""The host checks' shell on an OpenSSH master (scans.transports.openssh): the `run` /
`close` of scans.hostaccess.HostShell, over an `ssh -S ctl host /bin/sh -s` session.

One shell for every round of a collection (a login shell per round would cost the host one
each), each round a `{ ...; echo END; } </dev/null` group whose answer stops at END. The
master may have written the first round before the collection asks for it (`ahead`): its
answer is then already waiting in the pipe.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import subprocess
from typing import TYPE_CHECKING

from scans.hostaccess import READ_TIMEOUT, TOTAL_CAP, CollectionError, base_plan, build_script
from scans.transports.base import Deadline

if TYPE_CHECKING:
    from scans.transports.openssh import Master


@functools.cache
def first_round() -> str:
    return build_script(base_plan())


class MasterShell:
    def __init__(
        self,
        master: Master,
        deadline: Deadline,
        started: subprocess.Popen[bytes] | None = None,
        ahead: str = "",
    ) -> None:
        self.master = master
        self.deadline = deadline
        alive = started is not None and started.poll() is None
        self.process = started if alive else None
        self.ahead = ahead if alive else ""
        if started is not None and not alive:
            reap(started)

    def _open(self) -> subprocess.Popen[bytes]:
        if not self.master.alive:
            raise CollectionError("the SSH connection is closed")
        if self.deadline.remaining() < 1:
            raise CollectionError("no time left in the scan's budget")
        try:
            return self.master.shell_process()
        except OSError as exc:
            raise CollectionError(f"could not start an SSH session ({exc.strerror})") from None

    def run(self, script: str, cap: int) -> tuple[bytes, str]:
        """(stdout, problem): what the round printed, and why it stopped early ("" if not)."""
        if self.process is None:
            self.process = self._open()
        process = self.process
        assert process.stdin is not None and process.stdout is not None
        try:
            if self.ahead and self.ahead != script:
                # Not the round written ahead: its answer is nobody's, read and dropped.
                _, problem, ended = self._answer(process, TOTAL_CAP)
                if problem or ended:
                    self.close()
                    return b"", problem or "the host's shell ended early"
            if self.ahead != script:
                process.stdin.write(script.encode())
                process.stdin.flush()
            self.ahead = ""
            output, problem, ended = self._answer(process, cap)
            if ended:
                status = process.wait(5)
                if status != 0:
                    # The watchdog closes the master when the scan's time is up and the
                    # session then ends with ssh's 255: say why it ended, not how.
                    problem = (
                        "the scan's time budget ran out"
                        if self.deadline.remaining() <= 0.5
                        else f"the host's shell exited with status {status}"
                    )
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            output, problem, ended = b"", f"the SSH session failed ({exc})", True
        if problem or ended:
            self.close()
        return output, problem

    def _answer(self, process: subprocess.Popen[bytes], cap: int) -> tuple[bytes, str, bool]:
        """One round's answer: (stdout, problem, the shell ended)."""
        assert process.stdout is not None
        chunks: list[bytes] = []
        size, tail = 0, b""
        fd = process.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                left = self.deadline.remaining()
                if left <= 0:
                    return b"".join(chunks), "the scan's time budget ran out", False
                if not selector.select(min(left, READ_TIMEOUT)):
                    return b"".join(chunks), "the host stopped answering (timed out)", False
                data = os.read(fd, 65536)
                if not data:
                    return b"".join(chunks), "", True
                if size + len(data) > cap:
                    chunks.append(data[: cap - size])
                    problem = f"the host's answer exceeded the {TOTAL_CAP}-byte cap"
                    return b"".join(chunks), problem, False
                size += len(data)
                chunks.append(data)
                tail = (tail + data)[-5:]
                if tail == b"\nEND\n":  # the round is over; the shell waits for the next
                    return b"".join(chunks), "", False

    def close(self) -> None:
        if self.process is not None:
            process, self.process = self.process, None
            with contextlib.suppress(OSError, ValueError):
                process.stdin.close()  # type: ignore[union-attr]
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(1)  # the shell ends on its own once its stdin closes
            reap(process)


def reap(process: subprocess.Popen[bytes]) -> None:
    """End a session's process and close its pipes."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
