"""Registering a host: hostile endpoints are refused with a sentence, honest ones pass.

Names are resolved through a table the check takes as its resolver (no DNS here); the
connect-time check on real sockets is tests/scans/test_target_policy.py.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

import pytest
from django.conf import settings

from hosts.targets import (
    Policy,
    TargetRefused,
    check_address,
    check_endpoint,
    parse_policy,
)

NAMES: dict[str, list[str]] = {
    "rebind.example": ["169.254.169.254"],
    "mixed.example": ["10.0.0.5", "169.254.169.254"],
    "v6meta.example": ["fd00:ec2::254"],
    "mapped.example": ["::ffff:169.254.169.254"],
    "zero.example": ["0.0.0.0"],
    "alibaba.example": ["100.100.100.200"],
    "linklocal6.example": ["fe80::1%2"],
    "docker1.example.org": ["192.0.2.10"],
    "dual.example.org": ["192.0.2.11", "2001:db8::11"],
}


def table(host: str, port: int) -> Sequence[str]:
    try:
        return NAMES[host.lower().rstrip(".")]
    except KeyError:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None


NON_STANDARD = "non-standard form"
METADATA = "cloud metadata address"
LINK_LOCAL = "link-local"
EXPLICIT = "names it explicitly"
PORT = "not a TCP port"
UNIX_ADMIN = "only an administrator"
METADATA_V4 = "IPv6 form of 169.254.169.254"

HOSTILE = [
    # Integer, octal, hex and short IPv4 forms: the C resolver's reading, never a guess.
    ("tcp://2852039166:2376", "read it as 169.254.169.254"),
    ("tcp://0251.0376.0251.0376:2376", "read it as 169.254.169.254"),
    ("tcp://0xa9.0xfe.0xa9.0xfe:2376", "read it as 169.254.169.254"),
    ("tcp://0XA9.0XFE.0XA9.0XFE:2376", "read it as 169.254.169.254"),
    ("tcp://0xa9fea9fe:2376", "read it as 169.254.169.254"),
    ("tcp://169.254.43518:2376", "read it as 169.254.169.254"),
    ("tcp://169.16689662:2376", "read it as 169.254.169.254"),
    ("tcp://0251.0xfe.43518:2376", "read it as 169.254.169.254"),
    ("tcp://017700000001:2376", "read it as 127.0.0.1"),
    ("tcp://0x7f.1:2376", "read it as 127.0.0.1"),
    ("tcp://010.0.0.1:2376", "read it as 8.0.0.1"),
    ("tcp://1.2.3:2376", NON_STANDARD),
    ("tcp://999.1.1.1:2376", NON_STANDARD),
    ("ssh://ops@2852039166:22", "read it as 169.254.169.254"),
    ("tcp://example.123:2376", "neither a host name nor"),
    # Metadata, link-local, this-network, multicast, broadcast.
    ("tcp://169.254.169.254:2376", METADATA),
    ("tcp://169.254.169.254.:2376", METADATA),
    ("https://169.254.169.254", METADATA),
    ("ssh://ops@169.254.169.254:22", METADATA),
    ("tcp://100.100.100.200:2376", "Alibaba"),
    ("tcp://168.63.129.16:2376", "Azure"),
    ("tcp://169.254.1.1:2376", LINK_LOCAL),
    ("tcp://0.0.0.0:2376", "0.0.0.0/8"),
    ("tcp://0.1.2.3:2376", "0.0.0.0/8"),
    ("tcp://224.0.0.1:2376", "multicast"),
    ("tcp://239.255.255.250:2376", "multicast"),
    ("tcp://255.255.255.255:2376", "broadcast"),
    ("tcp://240.0.0.1:2376", "reserved"),
    # IPv6 forms, mapped, compatible, translated, tunnelled; zone ids; upper case.
    ("tcp://[::ffff:169.254.169.254]:2376", METADATA),
    ("tcp://[::ffff:a9fe:a9fe]:2376", METADATA),
    ("tcp://[0:0:0:0:0:ffff:a9fe:a9fe]:2376", METADATA),
    ("tcp://[::a9fe:a9fe]:2376", METADATA_V4),
    ("tcp://[64:ff9b::a9fe:a9fe]:2376", METADATA_V4),
    ("tcp://[64:ff9b::169.254.169.254]:2376", METADATA_V4),
    ("tcp://[2002:a9fe:a9fe::1]:2376", METADATA_V4),
    ("tcp://[2001:0:4136:e378:8000:63bf:5601:5601]:2376", METADATA_V4),  # Teredo
    ("tcp://[64:ff9b:1::a9fe:a9fe]:2376", "local-use NAT64"),
    ("tcp://[fd00:ec2::254]:2376", "AWS's IPv6 metadata"),
    ("tcp://[FD00:EC2::254]:2376", "AWS's IPv6 metadata"),
    ("tcp://[fe80::1]:2376", "IPv6 link-local"),
    ("tcp://[fe80::a9fe:a9fe%25eth0]:2376", "IPv6 link-local"),
    ("tcp://[ff02::1]:2376", "IPv6 multicast"),
    ("tcp://[::]:2376", "unspecified"),
    ("tcp://[::ffff:0.0.0.0]:2376", "0.0.0.0/8"),
    ("ssh://ops@[::ffff:169.254.169.254]:22", METADATA),
    # Names that resolve to refused addresses, and metadata services' own names.
    ("tcp://metadata.google.internal:2376", "name of a cloud metadata service"),
    ("tcp://METADATA.GOOGLE.INTERNAL.:2376", "name of a cloud metadata service"),
    ("ssh://ops@instance-data:22", "name of a cloud metadata service"),
    ("tcp://rebind.example:2376", "rebind.example resolves to 169.254.169.254"),
    ("tcp://mixed.example:2376", "mixed.example resolves to 169.254.169.254"),
    ("ssh://ops@v6meta.example:22", "AWS's IPv6 metadata"),
    ("tcp://mapped.example:2376", METADATA),
    ("tcp://zero.example:2376", "0.0.0.0/8"),
    ("tcp://alibaba.example:2376", "Alibaba"),
    ("tcp://linklocal6.example:2376", "IPv6 link-local"),
    # Percent-encoding and user information.
    ("tcp://%31%36%39.254.169.254:2376", "percent-encoded"),
    ("tcp://169.254.169.254%2f:2376", "percent-encoded"),
    ("tcp://user@10.0.0.5:2376", "nothing more"),
    ("ssh://ops@evil@169.254.169.254:22", "needs a user"),
    ("ssh://ops:secret@10.0.0.5:22", "no password"),
    # Odd ports.
    ("tcp://10.0.0.5:0", PORT),
    ("tcp://10.0.0.5:65536", PORT),
    ("tcp://10.0.0.5:-1", PORT),
    ("tcp://10.0.0.5:abc", PORT),
    ("tcp://10.0.0.5:+22", PORT),
    ("tcp://10.0.0.5:\uff12\uff13\uff17\uff16", PORT),  # full-width digits
    ("tcp://10.0.0.5:", PORT),
    ("ssh://ops@10.0.0.5:99999", PORT),
    # Other schemes.
    ("file:///var/run/docker.sock", "must start with"),
    ("http://10.0.0.5:2375", "Plain http:// is refused"),
    ("gopher://10.0.0.5:70", "must start with"),
    ("//10.0.0.5:2376", "must start with"),
]

HOSTILE_UNIX = [
    ("unix:///etc/passwd", "not a Docker API socket name"),
    ("unix:///run/containerd/containerd.sock", "not a Docker API socket name"),
    ("unix:///var/run/postgresql/.s.PGSQL.5432", "not a Docker API socket name"),
    ("unix:///run/../etc/docker.sock", "not a plain absolute path"),
    ("unix:///run//docker.sock", "not a plain absolute path"),
    ("unix:///tmp/docker.sock", "outside the directories"),
    ("unix:///home/ops/docker.sock", "outside the directories"),
    ("unix:///runx/docker.sock", "outside the directories"),
    ("unix://relative/docker.sock", "unix endpoint looks like"),
]


def test_there_are_at_least_fifty_hostile_registrations() -> None:
    assert len(HOSTILE) + len(HOSTILE_UNIX) + 1 >= 50


@pytest.mark.parametrize(("raw", "sentence"), HOSTILE)
def test_a_hostile_endpoint_is_refused_with_a_sentence(raw: str, sentence: str) -> None:
    with pytest.raises(TargetRefused) as info:
        check_endpoint(raw, allow_unix=True, resolver=table, policy=Policy())
    assert sentence in info.value.sentence
    assert info.value.sentence.endswith(".")


@pytest.mark.parametrize(("raw", "sentence"), HOSTILE_UNIX)
def test_a_socket_other_than_a_docker_api_one_is_refused_even_to_admins(
    raw: str, sentence: str
) -> None:
    with pytest.raises(TargetRefused) as info:
        check_endpoint(raw, allow_unix=True, policy=Policy())
    assert sentence in info.value.sentence


def test_unix_endpoints_are_refused_unless_the_caller_allows_them() -> None:
    with pytest.raises(TargetRefused) as info:
        check_endpoint("unix:///var/run/docker.sock", allow_unix=False, policy=Policy())
    assert UNIX_ADMIN in info.value.sentence
    check_endpoint("unix:///var/run/docker.sock", allow_unix=True, policy=Policy())


@pytest.mark.parametrize(
    "raw",
    [
        "unix:///var/run/docker.sock",
        "unix:///run/docker.sock",
        "unix:///run/user/1000/docker.sock",
        "unix:///run/podman/podman.sock",
        "unix:///var/run/docker-readonly.sock",
    ],
)
def test_docker_api_sockets_pass_for_admins(raw: str) -> None:
    check_endpoint(raw, allow_unix=True, policy=Policy())


def test_a_socket_in_the_data_directory_passes() -> None:
    check_endpoint(f"unix://{settings.DATA_DIR}/docker-readonly.sock", allow_unix=True)


@pytest.mark.parametrize(
    ("raw", "policy"),
    [
        ("tcp://10.0.0.5:2376", ""),
        ("tcp://127.0.0.1:2376", ""),  # the lab daemons of the test suite live here
        ("tcp://[::1]:2376", ""),
        ("tcp://docker1.example.org:2376", ""),
        ("tcp://DOCKER1.Example.org.:2376", ""),
        ("ssh://ops@docker1.example.org", ""),
        ("ssh://ops@dual.example.org:2222", ""),
        ("tcp://not-resolvable-here.invalid:2376", ""),  # the connect-time check decides
        ("tcp://[2001:db8::5]:2376", ""),
        ("tcp://192.168.1.5:22", "10.0.0.0/8:2376,192.168.1.0/24:22,2376"),
        ("tcp://192.168.1.5:2376", "10.0.0.0/8:2376,192.168.1.0/24:22,2376"),
        ("tcp://10.9.9.9:2376", "10.0.0.0/8:2376,192.168.1.0/24:22,2376"),
        ("tcp://169.254.169.254:2376", "169.254.169.254/32:2376"),
        ("tcp://169.254.10.10:2376", "169.254.0.0/16"),
        ("tcp://[fe80::1%25eth0]:2376", "fe80::/10"),
        ("tcp://[fd00::5]:2376", "[fd00::/8]:2376"),
        ("tcp://10.0.0.5:2376", "*:2376"),
    ],
)
def test_honest_endpoints_pass(raw: str, policy: str) -> None:
    check_endpoint(raw, allow_unix=False, resolver=table, policy=parse_policy(policy))


@pytest.mark.parametrize(
    ("raw", "policy", "sentence"),
    [
        ("tcp://10.0.0.5:2376", "192.168.0.0/16:2376", "outside the targets"),
        ("tcp://192.168.1.5:2375", "192.168.0.0/16:2376", "on port 2375"),
        ("tcp://[::1]:2376", "127.0.0.0/8", "outside the targets"),
        ("tcp://docker1.example.org:2376", "10.0.0.0/8", "docker1.example.org resolves to"),
        # A wide entry does not name the refused blocks: they must be named themselves.
        ("tcp://169.254.169.254:2376", "*", EXPLICIT),
        ("tcp://169.254.169.254:2376", "0.0.0.0/0", EXPLICIT),
        ("tcp://169.254.169.254:2376", "169.254.0.0/16", METADATA),
        ("tcp://169.254.169.254:2376", "169.254.169.254/32:80", EXPLICIT),
        ("tcp://[::ffff:169.254.169.254]:2376", "::/0", EXPLICIT),
    ],
)
def test_the_policy_narrows_what_passes(raw: str, policy: str, sentence: str) -> None:
    with pytest.raises(TargetRefused) as info:
        check_endpoint(raw, allow_unix=False, resolver=table, policy=parse_policy(policy))
    assert sentence in info.value.sentence


def test_the_settings_policy_applies_by_default(settings: object) -> None:
    settings.POSTURE_ALLOWED_TARGETS = "10.0.0.0/8:2376"  # type: ignore[attr-defined]
    check_address("10.1.2.3", 2376)
    with pytest.raises(TargetRefused):
        check_address("127.0.0.1", 2376)
    settings.POSTURE_ALLOWED_TARGETS = "not a network"  # type: ignore[attr-defined]
    with pytest.raises(TargetRefused) as info:
        check_address("10.1.2.3", 2376)
    assert "cannot be read, so nothing is allowed" in info.value.sentence


def test_the_policy_syntax() -> None:
    policy = parse_policy(" 10.0.0.0/8:2376 , 192.168.1.0/24:22,2376-2377, [fd00::/8]:22, *:2222")
    spans = [(str(e.network), e.ports) for e in policy.entries]
    assert spans == [
        ("10.0.0.0/8", ((2376, 2376),)),
        ("192.168.1.0/24", ((22, 22), (2376, 2377))),
        ("fd00::/8", ((22, 22),)),
        ("None", ((2222, 2222),)),
    ]
    assert parse_policy("").entries == ()
    assert parse_policy("fd00::/8").entries[0].ports == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2376", "no NETWORK:PORT entry comes before it"),
        ("10.0.0.0/8,2376", "no NETWORK:PORT entry comes before it"),
        ("10.0.0.1/8", "has host bits set"),
        ("10.0.0.0/8:0", "ports run from 1 to 65535"),
        ("10.0.0.0/8:70000", "ports run from 1 to 65535"),
        ("10.0.0.0/8:22-21", "ports run from 1 to 65535"),
        ("10.0.0.0/8:ssh", "not a port"),
        ("[fd00::/8]:x", "not a port"),
        ("docker1.example.org", "does not appear to be an IPv4 or IPv6 network"),
        ("0xa9.0xfe.0xa9.0xfe", "does not appear to be an IPv4 or IPv6 network"),
    ],
)
def test_a_malformed_policy_names_the_entry(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_policy(text)
