"""The test data of every test package: model rows and the facts the rule engine reads.

Model rows are factory_boy factories:

    host = HostFactory(labels={"env": "prod"})
    posture = HostPostureFactory(host=host, score=72, grade="C", failing_high=2)
    FindingFactory(host=host, rule_id="CTR-PRIVILEGED", subject_name="web")
    RiskExceptionFactory(host=host, days=-1)  # expired yesterday

Credentials are opt-in: HostFactory.with_tls_credentials()/with_ssh_credentials() below
generate throwaway key material with `cryptography` and store the key encrypted.

Rule facts (`host()`, `container()`, `image()`, further down) are shaped like real Engine
API output, captured from a dockerd 20.10 (Debian) test daemon (data/dockerd-20.10.json):
`T1` is a container started with default settings, `T2` the same image started with
--privileged. The builders copy them and apply dotted-path overrides, so each test states
only what differs.
"""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import factory
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from django.contrib.auth import get_user_model
from django.utils import timezone

from access.roles import Role
from access.services import set_role
from findings import tallies
from findings.models import Finding, HostPosture, ScoreSample
from hosts.models import Host
from policy.models import RiskException
from rules.base import REGISTRY, Outcome, Result
from rules.facts import ContainerFacts, HostFacts, ImageFacts
from scans.models import ScanRun

if TYPE_CHECKING:
    from lab.fleet import FleetHost

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password(PASSWORD)

    # Tests written before roles act as an admin; access tests pass role= and teams=.
    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        if create:
            set_role(self, extracted or Role.ADMIN, kwargs.get("teams"))


class HostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Host
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"docker{n:03d}")
    endpoint = "unix:///var/run/docker.sock"
    labels = factory.LazyFunction(dict)
    scan_interval = 15

    @classmethod
    def with_tls_credentials(cls, **kwargs: Any) -> tuple[Host, Pem]:
        pem = make_tls_pem()
        kwargs.setdefault("endpoint", "tcp://docker.example.org:2376")
        host = cls.build(tls_ca_cert=pem.ca_cert, tls_client_cert=pem.client_cert, **kwargs)
        host.set_tls_client_key(pem.client_key)
        host.save()
        return host, pem

    @classmethod
    def with_ssh_credentials(cls, **kwargs: Any) -> tuple[Host, SshPem]:
        pem = make_ssh_pem()
        kwargs.setdefault("endpoint", "ssh://deploy@docker.example.org:22")
        host = cls.build(ssh_host_key=pem.host_key, **kwargs)
        host.set_ssh_private_key(pem.private_key)
        host.save()
        return host, pem

    @classmethod
    def for_lab_member(cls, member: FleetHost) -> Host:
        """A member of the lab fleet (lab.fleet) as a host, with its TLS and SSH keys."""
        host = cls.build(
            name=member.name,
            endpoint=member.endpoint,
            labels={"fleet": "lab", "transport": member.member.transport},
            tls_ca_cert=member.ca_cert,
            tls_client_cert=member.client_cert,
            ssh_host_key=member.ssh_host_key,
        )
        host.set_tls_client_key(member.client_key)
        host.set_ssh_private_key(member.ssh_private_key)
        # The same validation as the host form: the lab's endpoints are ones a user could type.
        host.full_clean()
        host.save()
        return host


class ScanRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScanRun

    host = factory.SubFactory(HostFactory)
    status = ScanRun.Status.SUCCEEDED
    trigger = ScanRun.Trigger.SCHEDULE
    requested_at = factory.LazyFunction(timezone.now)
    started_at = factory.LazyAttribute(lambda s: s.requested_at)
    finished_at = factory.LazyAttribute(
        lambda s: (
            None if s.status in ScanRun.ACTIVE else s.requested_at + datetime.timedelta(seconds=2)
        )
    )
    duration_ms = factory.LazyAttribute(lambda s: None if s.status in ScanRun.ACTIVE else 2000)
    engine_version = "27.3.1"
    api_version = "1.47"
    containers = 4
    images = 6
    score = factory.LazyAttribute(lambda s: 80 if s.status == ScanRun.Status.SUCCEEDED else None)
    grade = factory.LazyAttribute(lambda s: "B" if s.status == ScanRun.Status.SUCCEEDED else "")

    class Params:
        active = factory.Trait(
            status=ScanRun.Status.RUNNING,
            containers=None,
            images=None,
            engine_version="",
            api_version="",
        )
        queued = factory.Trait(
            status=ScanRun.Status.QUEUED,
            started_at=None,
            containers=None,
            images=None,
            engine_version="",
            api_version="",
        )
        failed = factory.Trait(
            status=ScanRun.Status.FAILED,
            error_class="unreachable",
            error_detail="connection refused",
            containers=None,
            images=None,
        )


class HostPostureFactory(factory.django.DjangoModelFactory):
    """The current picture after one successful scan (pass last_scan=... for a failure)."""

    class Meta:
        model = HostPosture
        django_get_or_create = ("host",)

    host = factory.SubFactory(HostFactory)
    current_scan = factory.SubFactory(ScanRunFactory, host=factory.SelfAttribute("..host"))
    last_scan = factory.SelfAttribute("current_scan")
    score = 80
    grade = "B"
    failing_high = 1
    failing_medium = 2
    rules_assessed = 20
    rules_unknown = 0
    rule_summary = factory.LazyFunction(dict)
    engine_version = "27.3.1"
    containers = 4
    images = 6
    last_success_at = factory.LazyFunction(timezone.now)
    last_attempt_at = factory.SelfAttribute("last_success_at")

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> HostPosture:
        posture = super()._create(model_class, *args, **kwargs)
        # What findings.store writes beside a picture it stores: the rule pages sum it.
        tallies.store_contribution(posture.pk, posture.rule_summary)
        return posture


class FindingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Finding

    host = factory.SubFactory(HostFactory)
    rule_id = "CTR-PRIVILEGED"
    severity = 4  # rules.Severity.CRITICAL
    subject_kind = "container"
    subject_key = factory.Sequence(lambda n: f"{n:064x}")
    subject_name = factory.Sequence(lambda n: f"app-{n}")
    evidence = factory.LazyFunction(lambda: [{"field": "HostConfig.Privileged", "value": "true"}])
    opened_at = factory.LazyFunction(timezone.now)


class ScoreSampleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScoreSample

    host = factory.SubFactory(HostFactory)
    taken_at = factory.LazyFunction(timezone.now)
    score = 80
    grade = "B"


class RiskExceptionFactory(factory.django.DjangoModelFactory):
    """An accepted risk; scope it with host=, label_key/label_value= or the patterns."""

    class Meta:
        model = RiskException

    class Params:
        days = 30  # until it expires; negative for one already over

    rule_id = "CTR-PRIVILEGED"
    reason = "legacy payments stack, migration planned"
    owner = "payments@example.org"
    expires_at = factory.LazyAttribute(lambda o: timezone.now() + datetime.timedelta(days=o.days))
    created_by = "maya"


# --- Throwaway key material ---------------------------------------------------------------


class Pem:
    def __init__(self, ca_cert: str, client_cert: str, client_key: str) -> None:
        self.ca_cert = ca_cert
        self.client_cert = client_cert
        self.client_key = client_key


class SshPem:
    def __init__(self, private_key: str, host_key: str) -> None:
        self.private_key = private_key
        self.host_key = host_key


def _cert(subject: str, key: Any, issuer: str, issuer_key: Any, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _pem_key(key: Any, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def make_tls_pem() -> Pem:
    """A CA and a client certificate signed by it, with the client's unencrypted key."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test CA", ca_key, "test CA", ca_key, ca=True)
    client = _cert("test client", client_key, "test CA", ca_key, ca=False)
    return Pem(
        ca_cert=ca.public_bytes(serialization.Encoding.PEM).decode(),
        client_cert=client.public_bytes(serialization.Encoding.PEM).decode(),
        client_key=_pem_key(client_key, serialization.PrivateFormat.PKCS8),
    )


def make_ssh_pem() -> SshPem:
    """An Ed25519 client key in OpenSSH format and a server host key line."""
    client = ed25519.Ed25519PrivateKey.generate()
    server = ed25519.Ed25519PrivateKey.generate()
    host_key = (
        server.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return SshPem(_pem_key(client, serialization.PrivateFormat.OpenSSH), host_key)


# --- Facts for the rule engine ------------------------------------------------------------

IMAGE_ID = "sha256:5cba4c2e7a0b3063f0617a01bbf7d12861bfd190b928e11ca9c808f531f8dee6"

_CAPTURED: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "dockerd-20.10.json").read_text()
)
T1: dict[str, Any] = _CAPTURED["container_t1"]

T2: dict[str, Any] = copy.deepcopy(T1)
T2.update(Id="2af0b142562b0de2d058b0c572dae569e18f6075e380d582657e42cdc8bc01fe", Name="/t2")
T2["State"] = {"Status": "created", "Running": False, "Pid": 0, "ExitCode": 128}
T2["HostConfig"].update(Privileged=True, SecurityOpt=["label=disable"], MaskedPaths=None)

INFO: dict[str, Any] = _CAPTURED["info"]
VERSION: dict[str, Any] = _CAPTURED["version"]
# The test daemon runs with "bridge": "none", so GET /networks has no default bridge.
NETWORKS: list[dict[str, Any]] = _CAPTURED["networks"]
# The default bridge as a stock daemon reports it.
BRIDGE: dict[str, Any] = _CAPTURED["bridge"]
IMAGE: dict[str, Any] = _CAPTURED["image"]
HISTORY: list[dict[str, Any]] = _CAPTURED["history"]

DROP = object()  # an override value that removes the key instead


def apply(data: dict[str, Any], changes: dict[str, Any] | None) -> dict[str, Any]:
    """Copy `data` and set each dotted path in `changes` (DROP deletes it)."""
    out = copy.deepcopy(data)
    for path, value in (changes or {}).items():
        *parents, last = path.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        if value is DROP:
            node.pop(last, None)
        else:
            node[last] = value
    return out


def host(
    info: dict[str, Any] | None = None,
    version: dict[str, Any] | None = None,
    networks: list[dict[str, Any]] | None = None,
    containers: list[ContainerFacts] | None = None,
) -> HostFacts:
    facts = HostFacts(
        version=apply(VERSION, version),
        info=apply(INFO, info),
        networks=copy.deepcopy(NETWORKS if networks is None else networks),
        containers=containers or [],
    )
    for c in facts.containers:
        c.host = facts
    return facts


def container(
    changes: dict[str, Any] | None = None,
    *,
    base: dict[str, Any] = T1,
    info: dict[str, Any] | None = None,
    linked: bool = True,
) -> ContainerFacts:
    """A container from `base` with `changes`; `info` changes its daemon's /info, and
    linked=False leaves it without host facts, as if /info could not be read."""
    inspect = apply(base, changes)
    facts = ContainerFacts(id=str(inspect.get("Id", "")), inspect=inspect)
    if linked:
        host(info=info, containers=[facts])
    return facts


def image(
    changes: dict[str, Any] | None = None, history: list[dict[str, Any]] | None = HISTORY
) -> ImageFacts:
    return ImageFacts(id=IMAGE_ID, inspect=apply(IMAGE, changes), history=copy.deepcopy(history))


def check(rule_id: str, subject: object) -> Result:
    return REGISTRY[rule_id].check(subject)


def outcome(rule_id: str, subject: object) -> Outcome:
    return check(rule_id, subject).outcome


def evidence(result: Result) -> dict[str, str]:
    return {e.field: e.value for e in result.evidence}
