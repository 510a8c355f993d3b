"""Host-level checks of a tcp:// (mutual TLS) host over its separate SSH access.

The Docker API is read over TLS; the host's own files, processes and packages need a shell.
A host may carry a second credential for that alone (hosts.ssh_access): this opens that SSH
connection with the same pinning, timeouts, target policy and error taxonomy as an ssh://
endpoint (scans.transports.ssh.connect) and runs the same collection script over it
(scans.hostaccess.collect_host).

The SSH address is typed separately from the endpoint, so it can name another machine than
the daemon's (a neighbour, the VM host of a Docker Desktop): before anything is collected,
the daemon's data-root (from /info) must exist over there and its engine-id file, where the
Engine writes one (23.0+) and it is readable, must name the daemon the scan read; the same
test scans.hostlocal applies to the worker's own machine. Otherwise the host rules would
describe the wrong host.

Failure policy, as for the collection itself: never raises. A connection that cannot be
made (host key mismatch, refused login, unreachable, timeout) leaves an empty HostAccess
whose collection note says why, in the taxonomy's words: the host rules are then "not
assessed" with that reason, and the API scan stands.
"""

from __future__ import annotations

import logging
from typing import Any

import paramiko

from hosts.credentials import Credentials
from hosts.endpoints import Endpoint
from rules.facts import HostAccess
from rules.host_access import COLLECTION
from scans.hostaccess import (
    CollectionError,
    HostShell,
    Plan,
    build_script,
    collect_host,
    parse_output,
)
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


def failure_of(access: HostAccess) -> str:
    """The reason a collection through SSH access failed, or "": the host page says it on
    its "Host checks" line, not only on each rule."""
    found = access.commands.get(COLLECTION, "")
    return found.removeprefix("incomplete: ") if found.startswith("incomplete: ") else ""


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
        root = root if isinstance(root, str) and root.startswith("/") else None
        other = another_machine(client, deadline, root, info) if root else ""
        if other:
            return failed(
                f"{other} on {endpoint.user}@{endpoint.address}: it is not this daemon's host"
            )
        return collect_host(client, deadline, root)
    finally:
        client.close()


def another_machine(
    client: paramiko.SSHClient, deadline: Deadline, root: str, info: dict[str, Any]
) -> str:
    """Why the SSH host is provably not the daemon's, or "" (also when it cannot tell: a
    data-root the SSH user may not stat, an engine-id it may not read, or none written)."""
    engine_id = root.rstrip("/") + "/engine-id"
    plan = Plan(stats=[root], reads=[engine_id])
    shell = HostShell(client, deadline)
    try:
        output, _ = shell.run(build_script(plan), 64 * 1024)
    except CollectionError:
        return ""  # the collection that follows meets the same fault and says so
    finally:
        shell.close()
    seen = HostAccess(via="ssh")
    parse_output(output, plan, seen)
    found = seen.files.get(root)
    if found is not None and not found.exists:
        return f"the daemon's data-root {root} does not exist"
    text = seen.texts.get(engine_id)
    if text is not None and text.strip() != str(info.get("ID") or "").strip():
        return f"{engine_id} names another daemon"
    return ""
