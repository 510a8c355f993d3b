"""contrib/ci/posture-gate, run as a CI job runs it: a subprocess talking HTTP to a live
Posture (pytest-django's live_server) with a real token, over hosts served by the lab's
simulated Docker daemon and scanned by a real Celery worker on the lab Redis.

Each exit code of `manage.py scan` is reached (0, 1 unknown host, 2 scan failed or token
refused, 3 gate failed), the SARIF written is valid, a 429 is waited out for its
Retry-After, and the token is never printed."""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.conf import settings
from django.db import connections
from django.utils import timezone

from api.models import ApiToken
from api.throttling import TokenRateThrottle
from findings.models import Finding, HostPosture, Image
from hosts.models import Host
from lab.pki import Pki
from lab.sim_engine import FaultSpec, SimEngine, SimSpec
from posture.celery import app
from scans import services
from scans.models import ScanRun
from scans.transports import Limits
from tests.factories import UserFactory
from tests.findings.sarif_check import check_sarif
from vulndb.models import Advisory

pytestmark = [
    pytest.mark.celery,
    pytest.mark.django_db(transaction=True),
    # What the client does over HTTP does not depend on the database: one of the suite's two
    # runs is enough (the API's own tests run on both).
    pytest.mark.skipif(
        "postgresql" in settings.DATABASES["default"]["ENGINE"],
        reason="the CI client is checked on the SQLite run",
    ),
]
GATE = Path(__file__).resolve().parents[2] / "contrib" / "ci" / "posture-gate"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimEngine]:
    """Host 0 answers like a daemon; host 1 answers HTML (a malformed daemon: a scan that
    fails at once, without the retries an unreachable one gets)."""
    spec = SimSpec(
        hosts=2,
        containers=6,
        images=2,
        directory=f"/tmp/pst-gate-{os.getpid()}",
        faults=(FaultSpec("notjson", hosts=(1,)),),
    )
    with SimEngine(spec) as engine:
        yield engine
    shutil.rmtree(spec.directory, ignore_errors=True)


@pytest.fixture
def hosts(sim: SimEngine) -> dict[str, Host]:
    urls = [h["url"] for h in sim.hosts]
    return {
        "web-1": Host.objects.create(name="web-1", endpoint=urls[0], labels={"team": "web"}),
        "web-2": Host.objects.create(name="web-2", endpoint=urls[1], labels={"team": "web"}),
        "pay-1": Host.objects.create(name="pay-1", endpoint=urls[0], labels={"team": "pay"}),
    }


@pytest.fixture
def scanned(hosts: dict[str, Host]) -> Host:
    """web-1 with a picture: scanned from the simulated daemon in this process."""
    scan, _ = services.request_scan(hosts["web-1"], enqueue=False)
    assert services.run_scan(scan.pk, Limits(deadline=20)).status == ScanRun.Status.SUCCEEDED
    return hosts["web-1"]


@pytest.fixture
def token(token_for: Callable[..., str], tmp_path: Path) -> tuple[str, Path]:
    """A security token of team web (it may scan, read and export web's hosts), in a file."""
    raw = token_for(UserFactory(username="ci"), "security", ("web",))
    path = tmp_path / "token"
    path.write_text(raw + "\n")
    return raw, path


@pytest.fixture
def worker(broker: str) -> Iterator[None]:
    def close_connections(**_: object) -> None:
        # The pool thread's own database connection must not outlive the test.
        connections.close_all()

    before = app.conf.task_always_eager
    app.conf.task_always_eager = False
    task_postrun.connect(close_connections, weak=False)
    try:
        with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False):
            yield
    finally:
        task_postrun.disconnect(close_connections)
        app.conf.task_always_eager = before


def gate(url: str, *args: str, token_file: Path | None = None, **env: str) -> Any:
    clean = {
        k: v for k, v in os.environ.items() if k != "POSTURE_TOKEN" and "proxy" not in k.lower()
    }
    command = [sys.executable, str(GATE), "--url", url, *args]
    if token_file is not None:
        command += ["--token-file", str(token_file)]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=90, env={**clean, **env}, check=False
    )


def curl(url: str, token: str, args: str, **env: str) -> str:
    """curl as README's "Gate a pipeline on Posture" writes it, run by sh: the token goes to
    curl on its standard input (-H @-), never on a command line."""
    ran = subprocess.run(
        ["sh", "-ec", AUTH + "curl -fsS -H @- " + args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env={"PATH": os.environ["PATH"], "POSTURE_URL": url, "POSTURE_TOKEN": token, **env},
    )
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


AUTH = """auth() { printf 'Authorization: Bearer %s\\n' "$POSTURE_TOKEN"; }; auth | """


def test_scan_over_http_then_sarif_and_gates(
    live_server: Any, hosts: dict[str, Host], token: tuple[str, Path], worker: None,
    tmp_path: Path,
) -> None:  # fmt: skip
    raw, path = token
    sarif = tmp_path / "out" / "posture.sarif"
    sarif.parent.mkdir()
    done = gate(
        live_server.url, "--host", "web-1", "--scan", "--timeout", "60", "--fail-under", "0",
        "--sarif", str(sarif), token_file=path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    scan = ScanRun.objects.get(host=hosts["web-1"])
    assert scan.status == ScanRun.Status.SUCCEEDED and scan.trigger == ScanRun.Trigger.MANUAL
    score = HostPosture.objects.get(host=hosts["web-1"]).score
    assert f"scan #{scan.pk} of web-1" in done.stdout
    assert f"web-1: score {score} grade" in done.stdout
    log = json.loads(sarif.read_text())
    check_sarif(log)
    opened = Finding.objects.open().filter(host=hosts["web-1"]).count()
    assert opened and len(log["runs"][0]["results"]) == opened
    assert f"SARIF written to {sarif} ({opened} result(s))" in done.stdout
    assert [p.name for p in sarif.parent.iterdir()] == ["posture.sarif"]  # no temp file left

    url = live_server.url
    failed = gate(url, "--host", "web-2", "--scan", "--fail-under", "0", token_file=path)
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "web-2: scan #" in failed.stdout and "failed: " in failed.stdout
    assert "no picture yet" in failed.stdout
    assert raw not in done.stdout + done.stderr + failed.stdout + failed.stderr

    # The same without the client: curl alone.
    asked = curl(url, raw, '-X POST "$POSTURE_URL/api/v1/hosts/web-1/scans/"')
    scan_id = json.loads(asked)["id"]
    waited = curl(url, raw, f'"$POSTURE_URL/api/v1/scans/{scan_id}/?wait=30"')
    assert json.loads(waited)["status"] == "succeeded"
    posture = curl(url, raw, '"$POSTURE_URL/api/v1/hosts/web-1/posture/"')
    assert json.loads(posture)["score"] == HostPosture.objects.get(host=hosts["web-1"]).score


# Gates on the picture as it is (no --scan): arguments, exit code, what stderr says.
GATES = [
    (
        ["--fail-under", "100", "--fail-on", "low"],
        3,
        ["is below 100", "open finding(s) of severity low or above"],
    ),
    (["--fail-on-kev"], 3, ["not assessed"]),  # no vulnerability data: a gate cannot see
]


def test_gates_on_the_last_picture(
    live_server: Any, scanned: Host, token: tuple[str, Path]
) -> None:
    for gates, code, said in GATES:
        ran = gate(live_server.url, "--host", "web-1", *gates, token_file=token[1])
        assert ran.returncode == code, (gates, ran.stdout + ran.stderr)
        assert "web-1: score" in ran.stdout
        for words in said:
            assert "gate failed: " in ran.stderr and words in ran.stderr, gates


def test_an_unknown_host_or_a_refused_token_is_said_clearly(
    live_server: Any, hosts: dict[str, Host], token: tuple[str, Path]
) -> None:
    for name in ("nope", "pay-1"):  # pay-1 exists, for another team: the same answer
        ran = gate(live_server.url, "--host", name, token_file=token[1])
        assert ran.returncode == 1, ran.stderr
        assert f"no host named '{name}' among the hosts this token may see" in ran.stderr
    raw, _path = token
    forged = raw[:-4] + "AAAA"
    bad = gate(live_server.url, "--host", "web-1", POSTURE_TOKEN=forged)
    assert bad.returncode == 2
    assert "refused the token (HTTP 401)" in bad.stderr
    assert forged not in bad.stdout + bad.stderr
    missing = gate(live_server.url, "--host", "web-1")
    assert missing.returncode == 1 and "POSTURE_TOKEN" in missing.stderr
    plain = gate(live_server.url.replace("localhost", "example.org"), "--host", "web-1")
    assert plain.returncode == 1


def spend_budget(raw: str, until: float) -> None:
    """Leave the token no call before `until` (epoch seconds), as if it had just been used
    up: the throttle's own record, so its own arithmetic says when the next call may come."""
    throttle = TokenRateThrottle()
    token = ApiToken.objects.get(key=raw.split("_")[1])
    key = throttle.get_cache_key(SimpleNamespace(auth=token), None)  # type: ignore[arg-type]
    assert key is not None
    throttle.cache.set(key, [until], 300)


def test_a_429_is_waited_out_for_its_retry_after(
    live_server: Any, scanned: Host, token: tuple[str, Path], settings: Any
) -> None:
    raw, path = token
    settings.POSTURE_API = {**settings.POSTURE_API, "RATE": "1/s"}
    # Refused for two to three seconds: room for a slow start of the client on a busy machine.
    spend_budget(raw, time.time() + 2)
    ran = gate(live_server.url, "--host", "web-1", "--fail-under", "0", token_file=path)
    assert re.search(r"rate limited by Posture: waiting [1-3]s \(Retry-After\)", ran.stderr)
    assert ran.returncode == 0, ran.stderr
    assert "web-1: score" in ran.stdout
    spend_budget(raw, time.time() + 120)
    late = gate(live_server.url, "--host", "web-1", "--timeout", "5", token_file=path)
    assert late.returncode == 2
    assert "goes past the --timeout" in late.stderr


def test_vulnerability_gates_after_trivy_reports_sent_by_curl(
    live_server: Any, scanned: Host, token: tuple[str, Path], tmp_path: Path
) -> None:
    """GIVEN vulnerability data (one advisory, matching nothing here) and web-1's two images
    read by the scan, with no vulnerability found
    WHEN CI sends a Trivy report of each with curl (one HIGH, one LOW vulnerability)
    THEN the vulnerability gates count what the reports said."""
    raw, path = token
    url = live_server.url
    Advisory.objects.create(id="DSA-0000-1", modified=timezone.now(), group="CVE-0000-0001")
    clean = gate(url, "--host", "web-1", "--fail-on-vuln", "low", token_file=path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    for n, image in enumerate(Image.objects.filter(host=scanned).order_by("image_id")):
        report = tmp_path / f"trivy-{n}.json"
        severity = "HIGH" if n == 0 else "LOW"
        report.write_text(json.dumps(trivy_report(image, severity)))
        sent = curl(
            url,
            raw,
            '-H "Content-Type: application/json" '
            '--data-binary @"$REPORT" "$POSTURE_URL/api/v1/uploads/"',
            REPORT=str(report),
        )
        assert json.loads(sent)["added"] == 1
    high = gate(url, "--host", "web-1", "--fail-on-vuln", "high", token_file=path)
    assert high.returncode == 3, high.stdout + high.stderr
    assert "gate failed: 1 open vulnerabilit(y/ies) of severity high or above" in high.stderr
    passed = gate(
        url, "--host", "web-1", "--fail-on-vuln", "critical", "--fail-on-kev", token_file=path
    )
    assert passed.returncode == 0, passed.stdout + passed.stderr


def trivy_report(image: Image, severity: str) -> dict[str, Any]:
    """A Trivy JSON report (schema 2) of an image, by its layer digests."""
    return {
        "SchemaVersion": 2,
        "ArtifactName": image.name,
        "Metadata": {"DiffIDs": image.inspect["RootFS"]["Layers"]},
        "Results": [
            {
                "Target": image.name,
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": f"CVE-2026-{1000 + len(severity)}",
                        "PkgName": "openssl",
                        "InstalledVersion": "3.0.0",
                        "Severity": severity,
                    }
                ],
            }
        ],
    }


@pytest.fixture
def tls_front(live_server: Any, lab_pki: Pki) -> Iterator[str]:
    """live_server behind TLS with the lab CA's server certificate, as a reverse proxy puts
    Posture in front of a CI job: bytes forwarded both ways, nothing read or changed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(lab_pki.server_cert, lab_pki.server_key)
    listener = socket.create_server(("127.0.0.1", 0))
    upstream_at = urlsplit(live_server.url)

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            try:
                client = context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                raw.close()  # the client refused the certificate
                continue
            upstream = socket.create_connection((upstream_at.hostname, upstream_at.port))
            for ends in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=ends, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"https://localhost:{listener.getsockname()[1]}"
    listener.close()


def test_tls_is_verified_against_the_system_or_the_ca_file_only(
    tls_front: str, scanned: Host, token: tuple[str, Path], lab_pki: Pki
) -> None:
    untrusted = gate(tls_front, "--host", "web-1", token_file=token[1])
    assert untrusted.returncode == 2
    assert "is not trusted" in untrusted.stderr and "--ca-file" in untrusted.stderr
    trusted = gate(
        tls_front, "--host", "web-1", "--ca-file", str(lab_pki.ca_cert), token_file=token[1]
    )
    assert trusted.returncode == 0, trusted.stderr
    assert "web-1: score" in trusted.stdout


def example_commands() -> list[str]:
    """The posture-gate commands of contrib/ci's jobs and of the README's."""
    ci = GATE.parent
    github = yaml.safe_load((ci / "github-actions.yml").read_text())
    gitlab = yaml.safe_load((ci / "gitlab-ci.yml").read_text())
    readme = (GATE.parents[2] / "README.md").read_text()
    section = readme[readme.index("## Gate a pipeline on Posture") :]
    section = section[: section.index("\n## ")]
    readme_jobs = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", section, re.S)]
    scripts = [step.get("run", "") for step in github["jobs"]["posture-gate"]["steps"]]
    scripts += gitlab["posture-gate"]["script"]
    scripts += [step.get("run", "") for step in readme_jobs[0]["posture-gate"]["steps"]]
    scripts += readme_jobs[1]["posture-gate"]["script"]
    return [s for s in scripts if "posture-gate" in s]


def test_the_ci_examples_give_options_the_client_takes() -> None:
    loader = importlib.machinery.SourceFileLoader("posture_gate", str(GATE))
    spec = importlib.util.spec_from_loader("posture_gate", loader)
    assert spec is not None
    client = importlib.util.module_from_spec(spec)
    loader.exec_module(client)
    commands = example_commands()
    assert len(commands) == 4
    for command in commands:
        words = shlex.split(command)
        assert words[:2] == ["python3", "contrib/ci/posture-gate"], command
        args = client.parse_args(words[2:])  # exits 1 on an option it does not take
        assert args.scan and args.sarif == "posture.sarif" and args.fail_on == "high"
