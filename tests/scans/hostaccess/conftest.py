"""Fake Docker hosts behind a chrooting sshd (lab.hostroot), collected once each.

A host an earlier run left running is adopted and left running; one started here is stopped
at the end unless POSTURE_LAB_KEEP=1.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab.hostroot import HostRoot
from lab.process import running
from rules.facts import HostAccess
from scans.hostaccess import collect_host
from scans.transports.base import Deadline


def collected(host: HostRoot) -> HostAccess:
    client = host.connect()
    try:
        return collect_host(client, Deadline(20))
    finally:
        client.close()


@pytest.fixture(scope="session")
def bad_host() -> Iterator[HostRoot]:
    with running(HostRoot("test-host-bad", "bad")) as host:
        yield host


@pytest.fixture(scope="session")
def good_host() -> Iterator[HostRoot]:
    with running(HostRoot("test-host-good", "good")) as host:
        yield host


@pytest.fixture(scope="session")
def bad_access(bad_host: HostRoot) -> HostAccess:
    return collected(bad_host)


@pytest.fixture(scope="session")
def good_access(good_host: HostRoot) -> HostAccess:
    return collected(good_host)
