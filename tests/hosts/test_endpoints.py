from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from hosts.endpoints import Transport, parse_endpoint


@pytest.mark.parametrize(
    ("raw", "transport", "host", "port"),
    [
        ("unix:///var/run/docker.sock", Transport.UNIX, "", 0),
        ("tcp://docker1.example.org:2376", Transport.TLS, "docker1.example.org", 2376),
        ("tcp://127.0.0.5", Transport.TLS, "127.0.0.5", 2376),
        ("tcp://[::1]:2376", Transport.TLS, "::1", 2376),
        ("ssh://ops@127.0.0.1:2222", Transport.SSH, "127.0.0.1", 2222),
        ("ssh://ops@host", Transport.SSH, "host", 22),
    ],
)
def test_valid_endpoints(raw: str, transport: Transport, host: str, port: int) -> None:
    endpoint = parse_endpoint(raw)
    assert endpoint.transport is transport
    assert endpoint.host == host
    assert endpoint.port == port


def test_ssh_remote_socket_option() -> None:
    endpoint = parse_endpoint("ssh://ops@h:22?socket=/run/user/1000/docker.sock")
    assert endpoint.socket_path == "/run/user/1000/docker.sock"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter an endpoint"),
        ("http://host:2375", "Plain http:// is refused"),
        ("tcp://", "no host name"),
        ("tcp://host:99999", "not a valid URL"),
        ("ssh://host", "needs a user"),
        ("ssh://u:pw@host", "no password"),
        ("ssh://u@host?socket=relative", "absolute path"),
        ("ssh://u@host?socket=/x;rm%20-rf", "absolute path"),
        ("ssh://u@host?cmd=x", "only SSH option"),
        ("ftp://host", "must start with"),
        ("unix://relative", "unix endpoint"),
        ("tcp://host name:2376", "not a valid host"),
        ("tcp://<script>:1", "not a valid"),
    ],
)
def test_bad_endpoints_give_a_clear_error(raw: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_endpoint(raw)
    assert message in " ".join(info.value.messages)
