"""Canary: a recognisable TLS client key and SSH private key, planted through the real add-host
form and used by real scans on a real Celery worker, appear nowhere they could leak from:
the HTML of every page about the host, the logs, the broker, a database dump.

The TLS key carries the canary as a comment line before its PEM armour (OpenSSL and the
form read past it); the SSH key carries it as its OpenSSH comment, inside the base64 blob.
So the canary is looked for as text and as base64 at each of the three alignments it can
have inside a longer base64 stream, and each whole key as text and as base64.

The alert channels' URLs are bearer secrets too: a Slack channel and a webhook whose URLs
carry the canary are saved through the alerts page, sent a test message by the same worker,
and the webhook's signing key (shown once, in the answer to its save) is looked for as well.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import before_task_publish, task_postrun
from django.contrib import admin
from django.core.management import call_command
from django.db import connection, connections
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from alerts.models import DeliveryAttempt, Subscription
from findings.models import Container, Finding, Image
from hosts.models import Host
from lab.daemon import LabDaemon
from lab.pki import Pki
from lab.sshd import LabSshd
from posture.celery import app
from scans.models import ScanRun
from tests.alerts.receiver import Receiver, receiver
from tests.factories import UserFactory
from vulns.models import ImageInventory

pytestmark = [
    pytest.mark.celery,
    pytest.mark.docker,
    pytest.mark.ssh,
    pytest.mark.django_db(transaction=True),
]
WAIT = 120
CANARY = f"POSTURE-CANARY-{secrets.token_hex(8)}"
# Pages that change something on GET would not be pages; logout ends the session.
FINISHED = {ScanRun.Status.SUCCEEDED, ScanRun.Status.FAILED, ScanRun.Status.INTERRUPTED}
SKIPPED_ROUTES = {"logout", "host-scan", "host-delete"}


@pytest.fixture(autouse=True)
def eager_off() -> Iterator[None]:
    before = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def published() -> Iterator[list[str]]:
    """Every task message as the web process hands it to the broker."""
    sent: list[str] = []

    def record(body: Any = None, headers: Any = None, **_: object) -> None:
        sent.append(repr(body) + repr(headers))

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)


@pytest.fixture
def canary_ssh_key(lab_sshd: LabSshd, tmp_path: Path) -> Iterator[str]:
    """An SSH key whose comment is the canary, allowed into the lab sshd for this test."""
    path = tmp_path / "canary_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{CANARY}-ssh", "-f", path],
        check=True,
        capture_output=True,
    )
    authorized = lab_sshd.authorized_keys_path
    before = authorized.read_text()
    authorized.write_text(before + path.with_suffix(".pub").read_text())
    try:
        yield path.read_text()
    finally:
        authorized.write_text(before)


@pytest.fixture
def chat(settings: Any) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 whose URL path carries the canary, as a Slack hook's does."""
    settings.POSTURE_ALLOWED_TARGETS = "127.0.0.0/8"  # the lab's daemon, sshd and this
    with receiver(path=f"/hooks/T000/{CANARY}-chat") as r:
        yield r


def b64_needles(secret: str) -> list[str]:
    """`secret`'s base64 at each alignment it can have inside a longer base64 stream."""
    raw = secret.encode()
    out = []
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode()
        start = (0, 2, 3)[pad]  # characters that also carry the padding bytes
        out.append(encoded[start : (pad + len(raw)) // 3 * 4])
    return out


def flat(text: str) -> str:
    # PEM and OpenSSH bodies wrap lines; a dump escapes them: a leak is found across both.
    return text.replace("\\n", "").replace("\n", "").replace("\r", "")


def leaks(where: str, text: str, needles: dict[str, str]) -> list[str]:
    haystack = flat(text)
    return [f"{what} in {where}" for what, needle in needles.items() if needle in haystack]


def routes() -> Iterator[tuple[str, list[str]]]:
    def walk(patterns: list[Any], namespace: str | None) -> Iterator[tuple[str, list[str]]]:
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.app_name != "admin":  # the admin is visited through its registry
                    yield from walk(p.url_patterns, p.namespace or namespace)
            elif isinstance(p, URLPattern) and p.name and p.name not in SKIPPED_ROUTES:
                name = f"{namespace}:{p.name}" if namespace else p.name
                yield name, sorted(getattr(p.pattern, "converters", {}))

    yield from walk(get_resolver().url_patterns, None)


def page_urls(hosts: list[Host]) -> list[str]:
    """Every GET page the resolver has that needs nothing, or only this host's objects."""
    ids = [h.pk for h in hosts]
    values: dict[str, list[str]] = {
        "name": [h.name for h in hosts],
        "container_id": list(
            Container.objects.filter(host__in=ids).values_list("container_id", flat=True)
        ),
        "ref": list(Image.objects.filter(host__in=ids).values_list("name", flat=True)),
        "rule_id": sorted(
            set(Finding.objects.filter(host__in=ids).values_list("rule_id", flat=True))
        ),
        "key": list(ImageInventory.objects.values_list("key", flat=True)),
    }
    urls = []
    for name, params in routes():
        if not params:
            urls.append(reverse(name))
        elif params == ["name"]:
            urls += [reverse(name, kwargs={"name": n}) for n in values["name"]]
        elif params == ["container_id", "name"]:
            urls += [
                reverse(name, kwargs={"name": c.host.name, "container_id": c.container_id})
                for c in Container.objects.filter(host__in=ids).select_related("host")
            ]
        elif len(params) == 1 and params[0] in values:
            urls += [reverse(name, kwargs={params[0]: v}) for v in values[params[0]] if v]
    return urls


def admin_urls(hosts: list[Host]) -> list[str]:
    urls = []
    for model in admin.site._registry:
        meta = model._meta
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        rows = model._default_manager.all()
        if model is Host:
            rows = rows.filter(pk__in=[h.pk for h in hosts])
        for pk in rows.values_list("pk", flat=True)[:3]:
            urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[pk]))
    return urls


def body(response: Any) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode(errors="replace")


def redis_dump(url: str) -> str:
    client = redis.Redis.from_url(url)
    out = []
    for key in client.scan_iter():
        kind = client.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "string":
            value: Any = client.get(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1)
        else:
            value = kind
        out.append(f"{key!r} {value!r}")
    return "\n".join(out)


def database_dumps() -> dict[str, str]:
    dumped = io.StringIO()
    call_command("dumpdata", stdout=dumped)
    dumps = {"dumpdata": dumped.getvalue()}
    db = connection.settings_dict
    if connection.vendor == "postgresql" and shutil.which("pg_dump"):
        env = {**os.environ, "PGPASSWORD": str(db.get("PASSWORD") or "")}
        args = ["pg_dump", "-h", str(db.get("HOST") or "localhost"), "-U", str(db["USER"])]
        if db.get("PORT"):
            args += ["-p", str(db["PORT"])]
        done = subprocess.run(
            [*args, db["NAME"]], env=env, capture_output=True, text=True, check=True, timeout=120
        )
        dumps["pg_dump"] = done.stdout
    return dumps


def wait_for_scans(hosts: list[Host]) -> None:
    give_up = time.monotonic() + WAIT
    while time.monotonic() < give_up:
        runs = list(ScanRun.objects.filter(host__in=hosts).values_list("status", flat=True))
        if len(runs) == len(hosts) and all(s in FINISHED for s in runs):
            return
        time.sleep(0.5)
    pytest.fail(f"scans not finished after {WAIT}s: {runs}")


def wait_for_tests(count: int) -> None:
    give_up = time.monotonic() + WAIT
    while DeliveryAttempt.objects.filter(test=True).count() < count:
        if time.monotonic() > give_up:
            pytest.fail(f"the channels' test messages not sent after {WAIT}s")
        time.sleep(0.2)


def test_planted_keys_leak_nowhere(
    broker: str,
    lab_daemon: LabDaemon,
    lab_pki: Pki,
    lab_sshd: LabSshd,
    lab_samples: dict[str, str],
    canary_ssh_key: str,
    chat: Receiver,
    published: list[str],
    client: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tls_key = f"Comment: {CANARY}-tls\n" + lab_pki.pem("client_key")
    needles = {
        "the canary": CANARY,
        "the TLS key": flat(tls_key),
        "the SSH key": flat(canary_ssh_key),
    }
    for what, secret in (
        ("the canary", CANARY),
        ("the TLS key", tls_key),
        ("the SSH key", canary_ssh_key),
    ):
        for i, needle in enumerate(b64_needles(secret)):
            needles[f"{what} in base64 ({i})"] = needle
    # The needles find each key however it would leak: as text, JSON-escaped, in base64 (the
    # SSH key's canary is only ever base64, inside its body).
    assert leaks("the SSH key itself", canary_ssh_key, needles)
    assert leaks("escaped", json.dumps({"key": tls_key}), needles)
    assert leaks("base64", base64.b64encode(f"k={canary_ssh_key}".encode()).decode(), needles)
    user = UserFactory(username="canary-admin", is_staff=True, is_superuser=True)
    client.force_login(user)

    common = {"labels": "env=canary", "owner_email": "", "scan_interval": "60", "enabled": "on"}
    tls = client.post(
        reverse("host-add"),
        {
            **common,
            "name": "canary-tls",
            "endpoint": lab_daemon.tcp_url,
            "tls_ca_cert": lab_pki.pem("ca_cert"),
            "tls_client_cert": lab_pki.pem("client_cert"),
            "tls_client_key": tls_key,
        },
    )
    ssh = client.post(
        reverse("host-add"),
        {
            **common,
            "name": "canary-ssh",
            "endpoint": f"{lab_sshd.ssh_url}?socket={lab_daemon.socket_path}",
            "ssh_private_key": canary_ssh_key,
            "ssh_host_key": lab_sshd.host_public_key,
        },
    )
    assert (tls.status_code, ssh.status_code) == (302, 302), body(tls) + body(ssh)
    hosts = list(Host.objects.filter(name__in=["canary-tls", "canary-ssh"]))
    channel = {"scope": "all", "min_severity": "1", "delivery": "immediate", "time_zone": "UTC"}
    client.post(reverse("alerts"), {**channel, "channel": "slack", "url": chat.url})
    hook = client.post(
        reverse("alerts"), {**channel, "channel": "webhook", "url": f"{chat.url}?t={CANARY}"}
    )
    signing_key = re.search(r"<code>(whsec_[\w-]+)</code>", body(hook))
    assert signing_key, body(hook)
    needles["the webhook's signing key"] = signing_key[1]
    for i, needle in enumerate(b64_needles(signing_key[1])):
        needles[f"the webhook's signing key in base64 ({i})"] = needle
    channels = list(Subscription.objects.filter(user=user).order_by("pk"))
    assert [c.channel for c in channels] == ["slack", "webhook"]
    for sub in channels:  # queued now, sent by the worker below: it alone opens the URLs
        client.post(reverse("alert-channel-test", args=[sub.pk]))
    queued = redis_dump(broker)  # the scans' messages, before a worker takes them

    def close_connections(**_: object) -> None:
        connections.close_all()

    task_postrun.connect(close_connections, weak=False)
    try:
        with start_worker(
            app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30
        ):
            wait_for_scans(hosts)
            wait_for_tests(len(channels))
    finally:
        task_postrun.disconnect(close_connections)
    runs = dict(ScanRun.objects.filter(host__in=hosts).values_list("host__name", "status"))
    assert runs == {"canary-tls": "succeeded", "canary-ssh": "succeeded"}, list(
        ScanRun.objects.values_list("host__name", "error_class", "error_detail")
    )
    assert published, "no task message was sent"
    # The worker opened both URLs (scans' regressions may have posted more besides).
    tested = DeliveryAttempt.objects.filter(test=True)
    assert [a.status_code for a in tested] == [200, 200] and len(chat.requests) >= 2

    found: list[str] = []
    pages = page_urls(hosts) + admin_urls(hosts)
    assert reverse("host-edit", args=["canary-ssh"]) in pages
    for url in pages:
        found += leaks(f"GET {url}", body(client.get(url)), needles)
    found += leaks("the task messages", "\n".join(published), needles)
    found += leaks("Redis with the scans queued", queued, needles)
    found += leaks("Redis after the scans", redis_dump(broker), needles)
    for name, dump in database_dumps().items():
        found += leaks(name, dump, needles)
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    found += leaks("the logs", logged, needles)
    assert found == []
    assert len(pages) > 40  # the enumeration did reach the host's pages, not just a few
