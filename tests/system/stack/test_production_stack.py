"""docker-compose.yml, started for real, does what the README's production section says.

One stack for the module (the `production_stack` fixture): migrations ran, web is healthy and
published on loopback only, an admin logs in over HTTP, adds a host, and the worker scans it
on beat's schedule; every container runs as its non-root user on a read-only root
filesystem; the secrets are files, in no environment and no image layer; no container can
send a packet beyond the stack's bridges.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath

import pytest

from tests.system.stack.fixture import needs_stack
from tests.system.stack.stack import Stack
from tests.system.stack.stack_secrets import image_layers, secret_values

pytestmark = [needs_stack, pytest.mark.docker]

SERVICES = ("migrate", "web", "worker", "beat", "redis", "postgres")
HOST = "stack-target"


def test_the_migrations_ran_before_anything_else(production_stack: Stack) -> None:
    (migrate,) = production_stack.inspect("migrate")
    assert migrate["State"]["Status"] == "exited" and migrate["State"]["ExitCode"] == 0
    # A fresh database each run (compose down -v): every migration applied, by this service.
    assert re.search(r"Applying \w+\.\d{4}_\w+\.\.\. OK", production_stack.logs("migrate"))
    started = {name: production_stack.inspect(name)[0]["State"]["StartedAt"] for name in SERVICES}
    finished = migrate["State"]["FinishedAt"]
    assert all(started[name] > finished for name in ("web", "worker", "beat")), (started, finished)


def test_web_is_healthy_and_published_on_loopback_only(production_stack: Stack) -> None:
    assert production_stack.health("web") == "healthy"
    (web,) = production_stack.inspect("web")
    bindings = web["HostConfig"]["PortBindings"]
    assert {b["HostIp"] for spec in bindings.values() for b in spec} == {"127.0.0.1"}
    response = production_stack.session().get(f"{production_stack.url}/healthz", timeout=30)
    assert response.status_code == 200 and response.text == "ok"
    ready = production_stack.session().get(f"{production_stack.url}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text


def test_an_admin_adds_a_host_and_the_worker_scans_it_on_schedule(
    production_stack: Stack,
) -> None:
    stack = production_stack
    session = stack.login()
    stack.add_host(session, HOST, stack.target_port)

    # Adding a host queues its first scan at once (trigger "manual"): a worker opens the
    # sealed client key and scans the lab daemon over TLS on the bridge. Then the schedule:
    # the host's next slot is brought forward to now (as if its interval had passed), and
    # beat's dispatch finds it due and a worker scans it, nobody asking.
    result = stack.shell(SCANS.format(host=HOST, timeout=120))
    assert result["manual"] and result["manual"]["status"] == "succeeded", result
    assert result["schedule"] and result["schedule"]["status"] == "succeeded", result
    assert result["score"] is not None, result
    page = session.get(f"{stack.url}/hosts/{HOST}/", timeout=60)
    assert page.status_code == 200 and HOST in page.text


# Runs inside web's Django: one start-up for the whole wait, polling the database.
SCANS = """
import json, time
from django.utils import timezone
from findings.models import HostPosture
from hosts.models import Host
from scans.models import ScanRun

def finished(trigger):
    deadline = time.monotonic() + {timeout}
    while time.monotonic() < deadline:
        run = ScanRun.objects.filter(host__name={host!r}, trigger=trigger).exclude(
            status__in=ScanRun.ACTIVE).values("status", "error_class", "error_detail").first()
        if run:
            return run
        time.sleep(0.5)

manual = finished("manual")
Host.objects.filter(name={host!r}).update(next_scan_at=timezone.now())
schedule = finished("schedule")
score = HostPosture.objects.filter(host__name={host!r}).values_list("score", flat=True).first()
print(json.dumps(dict(manual=manual, schedule=schedule, score=score)))
"""


def test_beat_runs_once(production_stack: Stack) -> None:
    assert len(production_stack.container_ids("beat")) == 1


@pytest.mark.parametrize("service", SERVICES)
def test_every_container_runs_as_its_user_on_a_read_only_root(
    production_stack: Stack, service: str
) -> None:
    for container in production_stack.inspect(service):
        user = container["Config"]["User"]
        assert user and user.split(":")[0] not in ("", "0", "root"), user
        assert container["HostConfig"]["ReadonlyRootfs"] is True
        assert container["HostConfig"]["CapDrop"] == ["ALL"]
        if container["State"]["Running"]:
            uid = production_stack.exec(service, "id", "-u")[1].strip()
            assert uid == user.split(":")[0] and uid != "0"
            code, output = production_stack.exec(service, "touch", "/probe", check=False)
            assert code != 0 and "Read-only file system" in output


def test_secrets_are_files_in_no_environment_and_no_image_layer(production_stack: Stack) -> None:
    stack = production_stack
    values = secret_values(stack.project / "secrets")
    assert {"db_password", "secret_key", "redis_password", "broker_url"} <= set(values)
    needles = [value.encode() for value in values.values()]

    for service in SERVICES:
        for container in stack.inspect(service):
            environment = "\n".join(container["Config"]["Env"])
            assert not [name for name, v in values.items() if v in environment], service
            mounts = {m["Destination"] for m in container["Mounts"]}
            assert any(m.startswith("/run/secrets/") for m in mounts), service

    image = stack.images["posture"]
    with stack.client() as client:
        history = json.dumps(client.history(image))
        assert "secrets/" not in history
        assert not [name for name, v in values.items() if v in history]
        # Layers from the Debian base were made before any secret existed; every layer the
        # Dockerfile added is read, names and contents.
        base = len(client.inspect_image(stack.images["python"])["RootFS"]["Layers"])
        leaks, read = [], 0
        for index, (layer, tar) in enumerate(image_layers(client, image)):
            if index < base:
                continue
            for member in tar:
                if "secrets" in PurePosixPath(member.name).parts:
                    leaks.append(f"{layer}: {member.name}")
                if member.isfile():
                    handle = tar.extractfile(member)
                    data = handle.read() if handle else b""
                    read += len(data)
                    leaks += [f"{layer}: {member.name}" for n in needles if n in data]
    assert read > 1_000_000, "the Posture layers were read"
    assert not leaks


def test_no_packet_leaves_the_stack_bridges(production_stack: Stack) -> None:
    """IP forwarding is off on both bridges (the daemon adds no NAT: --iptables=false), so
    containers reach each other and this machine's addresses on the bridges, nothing else."""
    assert production_stack.forwarding() == {
        f"{production_stack.bridge}b": "0",
        f"{production_stack.bridge}f": "0",
    }
    (backend,) = list(production_stack.inspect("redis")[0]["NetworkSettings"]["Networks"])
    assert backend.endswith("_backend")
