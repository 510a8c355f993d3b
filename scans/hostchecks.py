"""A scan's host checks (the host's own files and packages), beside its Engine API reads.

Over the scan's own SSH connection the checks need nothing the Engine API gives until their
first round is parsed (the daemon's DockerRootDir, from /info, only steers rounds two and
three), so they run on a thread of their own from the moment the connection is up: the
host's script runs while the Engine API is read, not after it (issue 15, measured in
docs/BENCHMARKS.md). The SSH master multiplexes both; paramiko's transport is thread-safe.

A tcp:// host's separate SSH access and a local unix:// daemon stay serial: both are
decided from /info (which host key, whether the daemon is provably this machine's).

Semantics kept from the serial version: the checks never fail the Engine API part (their
faults end up in the host's own verdicts), both are bounded by the scan's one deadline, and
nothing outlives the scan: a failed API read closes the connection, which ends the
host's shell at once, and the thread is joined before the scan goes on.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.core.exceptions import ValidationError

from hosts.endpoints import Endpoint, Transport
from hosts.models import Host
from posture.lib.crypto import DecryptionError
from rules.facts import HostAccess, HostFacts, HostPackages
from scans import hostlocal, hostpackages, hostssh
from scans.hostaccess import COLLECTION, collect_host
from scans.transports import DockerAPI, Limits

log = logging.getLogger(__name__)

# Beyond the deadline, how long to wait for the checks' thread: the watchdog has by then
# closed the connection, so its shell has ended and the thread is on its way out.
JOIN_GRACE = 5.0


class HostChecks:
    """`with HostChecks(api, endpoint, host, limits) as checks:` starts the checks (over the
    scan's SSH connection, at once); `collect(api, on_info=checks.info)` tells them the
    daemon's data-root; `checks.finish(facts)` waits for them and sets facts.host."""

    def __init__(self, api: DockerAPI, endpoint: Endpoint, host: Host, limits: Limits) -> None:
        self.api = api
        self.endpoint = endpoint
        self.host = host
        self.limits = limits
        self._root: str | None = None
        self._root_known = threading.Event()
        self._found: HostAccess | None = None
        self._thread: threading.Thread | None = None
        if api.ssh_client is not None:
            self._thread = threading.Thread(
                target=self._run, name=f"host-checks-{host.pk}", daemon=True
            )
            self._thread.start()

    def __enter__(self) -> HostChecks:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if self._thread is None or not self._thread.is_alive():
            return
        if kind is not None:
            # The scan failed: its connection is of no further use, and closing it ends
            # the host's shell (and with it the thread) now rather than at the deadline.
            self.api.close()
        self._join()

    def info(self, info: dict[str, Any]) -> None:
        root = info.get("DockerRootDir")
        self._root = root if isinstance(root, str) else None
        self._root_known.set()

    def _data_root(self) -> str | None:
        # Asked after the first round. /info is the Engine API's first read after /version,
        # so this seldom waits; a scan that fails before it closes the connection (__exit__).
        self._root_known.wait(max(self.api.deadline.remaining(), 0))
        return self._root

    def _run(self) -> None:
        try:
            self._found = collect_host(self.api.ssh_client, self.api.deadline, self._data_root)
        except Exception as exc:  # noqa: BLE001 - host checks must never cost the API scan
            log.exception("host collection crashed")
            self._found = HostAccess(via="ssh")
            self._found.commands[COLLECTION] = f"incomplete: internal error ({type(exc).__name__})"

    def _join(self) -> None:
        assert self._thread is not None
        self._root_known.set()  # nothing more to wait for, whatever happened
        self._thread.join(max(self.api.deadline.remaining(), 0) + JOIN_GRACE)
        if self._thread.is_alive():
            log.error("host checks still running after the scan's deadline; closing the connection")
            self.api.close()
            self._thread.join(JOIN_GRACE)

    def finish(self, facts: HostFacts) -> None:
        """The host's own files and packages into facts: over the scan's SSH connection
        (already under way), over a tcp:// host's separate SSH access (scans.hostssh), or
        read on this machine when the unix:// daemon is provably its own
        (scans.hostlocal)."""
        if self._thread is not None:
            self._join()
            facts.host = self._found
        elif self.endpoint.transport is Transport.TLS and self.host.ssh_access:
            self._via_access(facts)
        elif self.endpoint.transport is Transport.UNIX:
            self._local(facts)
        if facts.host is not None:
            try:
                facts.packages = hostpackages.assess(facts.host, facts.info)
            except Exception as exc:  # noqa: BLE001 - rule 0 then falls back to the upstream table
                log.exception("host package assessment crashed")
                facts.packages = HostPackages(reason=f"internal error ({type(exc).__name__})")

    def _via_access(self, facts: HostFacts) -> None:
        try:
            access = self.host.ssh_access_endpoint
            creds = self.host.ssh_access_credentials()
        except (ValidationError, DecryptionError) as exc:
            # The API scan stands: only the host rules go unassessed, saying why.
            why = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            facts.host = hostssh.failed(why)
        else:
            assert access is not None
            facts.host = hostssh.collect_via_access(
                access, creds, facts.info, self.api.deadline, self.limits.connect_timeout
            )
        facts.host_note = hostssh.failure_of(facts.host)

    def _local(self, facts: HostFacts) -> None:
        try:
            found = hostlocal.collect_local(
                self.endpoint.socket_path, facts.info, self.api.deadline
            )
        except Exception as exc:  # noqa: BLE001 - host checks must never cost the API scan
            log.exception("local host collection crashed")
            found = f"internal error ({type(exc).__name__})"
        if isinstance(found, str):
            facts.host_note = found
        else:
            facts.host = found
