"""Host-level checks of a tcp:// (mutual TLS) host over its separate SSH access.

The Docker API is read over TLS; the host's own files, processes and packages need a shell.
A host may carry a second credential for that alone (hosts.ssh_access): this opens that SSH
connection with the same pinning, timeouts, target policy and error taxonomy as an ssh://
endpoint (scans.transports.ssh.connect) and runs the same collection script over it
(scans.hostaccess.collect_host).

Failure policy, as for the collection itself: never raises. A connection that cannot be
made (host key mismatch, refused login, unreachable, timeout) leaves an empty HostAccess
whose collection note says why, in the taxonomy's words: the host rules are then "not
assessed" with that reason, and the API scan stands.
"""

from __future__ import annotations

import logging
from typing import Any

from hosts.credentials import Credentials
from hosts.endpoints import Endpoint
from rules.facts import HostAccess
from rules.host_access import COLLECTION
from scans.hostaccess import collect_host
from scans.transports import ssh
from scans.transports.base import Deadline
from scans.transports.dial import Dialer
from scans.transports.errors import ScanError

log = logging.getLogger(__name__)


def failed(reason: str) -> HostAccess:
    """Nothing collected, and why: every host rule is then unknown with this reason."""
    access = HostAccess(via="ssh")
    access.commands[COLLECTION] = f"incomplete: SSH access for host checks failed: {reason}"
    return access


def collect_via_access(
    endpoint: Endpoint,
    creds: Credentials,
    info: dict[str, Any],
    deadline: Deadline,
    connect_timeout: float,
    dialer: Dialer | None = None,
) -> HostAccess:
    left = deadline.remaining()
    if left < 1:
        return failed("no time left in the scan's budget")
    try:
        client = ssh.connect(endpoint, creds, min(connect_timeout, left), dialer or Dialer())
    except ScanError as exc:
        log.info("SSH access for host checks at %s failed: %s", endpoint.address, exc)
        return failed(str(exc))
    try:
        root = info.get("DockerRootDir")
        return collect_host(client, deadline, root if isinstance(root, str) else None)
    finally:
        client.close()
