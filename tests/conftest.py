"""Session-wide lab services shared by the whole suite.

Each fixture is a thin wrapper over lab, so moving them to tests/conftest.py for the
whole suite is a cut and paste. A service an earlier run left running is adopted and left
running; one started here is stopped at the end (unless POSTURE_LAB_KEEP=1).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from lab.daemon import LabDaemon
from lab.images import DEFAULT_TAG, import_image
from lab.pki import Pki, make_pki, make_rogue_pki
from lab.process import lab_root, running
from lab.samples import create_samples
from lab.services import LabPostgres, LabRedis
from lab.smtp import LabSmtp
from lab.sshd import LabSshd
from posture.celery import app


@pytest.fixture(autouse=True)
def _fresh_trends(settings: Any) -> None:
    # The trends page keeps its figures a minute (trends.dashboard); tests change the data
    # between requests and must see it. tests/trends/test_pages.py tests the cache itself.
    settings.POSTURE_TRENDS_CACHE_SECONDS = 0
    # The same for the header's fleet counters (fleet.context_processors).
    settings.POSTURE_HEADER_COUNTS_SECONDS = 0


@pytest.fixture(autouse=True)
def _fast_password_hashes(settings: Any) -> None:
    # Django's PBKDF2 (a million rounds) costs ~0.3 s per password set or checked, and the
    # access tests make eight accounts per URL: a quarter of the suite's time went there.
    # How passwords are hashed is Django's, not under test here; that they are checked is.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_vulnerability_caches() -> None:
    # Per-process caches keyed on row ids and versions: a rolled-back test's ids come back.
    from vulndb import index
    from vulns import summary

    index.clear_cache()
    summary.clear_cache()


@pytest.fixture(scope="session")
def lab_pki() -> Pki:
    return make_pki(lab_root("test-pki"), ips=("127.0.0.1",), dns_names=("localhost",))


@pytest.fixture(scope="session")
def lab_rogue_pki() -> Pki:
    return make_rogue_pki(lab_root("test-rogue"))


@pytest.fixture(scope="session")
def lab_daemon(lab_pki: Pki) -> Iterator[LabDaemon]:
    with running(LabDaemon("test", tls=lab_pki)) as daemon:
        yield daemon


@pytest.fixture(scope="session")
def lab_client(lab_daemon: LabDaemon) -> Iterator[docker.APIClient]:
    with lab_daemon.api_client() as client:
        yield client


@pytest.fixture(scope="session")
def lab_image(lab_client: docker.APIClient) -> str:
    import_image(lab_client, DEFAULT_TAG)
    return DEFAULT_TAG


@pytest.fixture(scope="session")
def lab_samples(
    lab_daemon: LabDaemon, lab_client: docker.APIClient, lab_image: str
) -> dict[str, str]:
    return create_samples(lab_client, lab_image, docker_socket=lab_daemon.socket_path)


@pytest.fixture(scope="session")
def lab_sshd() -> Iterator[LabSshd]:
    with running(LabSshd("test-ssh")) as sshd:
        yield sshd


@pytest.fixture(scope="session")
def lab_redis() -> Iterator[LabRedis]:
    with running(LabRedis("test-redis")) as redis:
        yield redis


@pytest.fixture(scope="session")
def lab_postgres() -> Iterator[LabPostgres]:
    with running(LabPostgres("test-pg")) as postgres:
        yield postgres


def pytest_report_header(config: pytest.Config) -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    return f"posture database: {db['ENGINE'].rsplit('.', 1)[-1]} {db.get('HOST', '')}"


@pytest.fixture(scope="session")
def lab_smtp_server() -> Iterator[LabSmtp]:
    with LabSmtp() as server:
        yield server


@pytest.fixture
def lab_smtp(lab_smtp_server: LabSmtp, settings: Any) -> LabSmtp:
    """A real SMTP server on loopback, its inbox empty, Django's mail pointed at it."""
    lab_smtp_server.clear()
    for name, value in lab_smtp_server.settings().items():
        setattr(settings, name, value)
    return lab_smtp_server


@pytest.fixture
def broker(request: pytest.FixtureRequest, lab_redis: LabRedis) -> Iterator[str]:
    """The Celery app pointed at the lab Redis, on a database of this test module's own.

    Another test run sharing the lab Redis (database 0, or another module) must not take
    these scans: their ids exist only in this run's database. Flushed first, because a
    killed earlier run may have left messages behind.
    """
    index = 1 + zlib.crc32(request.module.__name__.encode()) % 15
    url = lab_redis.url.rsplit("/", 1)[0] + f"/{index}"
    previous = app.conf.broker_url, app.conf.broker_transport_options
    _use_broker(url, {"visibility_timeout": 300})
    with app.connection_for_write() as conn:
        conn.default_channel.client.flushdb()
    try:
        yield url
    finally:
        _use_broker(*previous)


def _use_broker(url: str, options: dict[str, object]) -> None:
    app.conf.broker_url = url
    app.conf.broker_transport_options = options
    # Forget the app's pools so the next use looks them up for this URL. Not closed: kombu
    # keeps them in a process-wide registry per URL, and a later test on the same URL would
    # get the closed one back ("Acquire on closed pool").
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture(autouse=True)
def _english_to_start_with() -> Iterator[None]:
    # A test that renders for a French account (a mail, a test message) can leave French
    # active in this thread; the next test's English expectations then fail at random,
    # depending on order. Each test starts in the default language.
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()
