from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Credentials:
    """Decrypted connection material for one scan. repr() never shows the secrets."""

    ca_cert: str = ""
    client_cert: str = ""
    client_key: str = field(default="", repr=False)
    ssh_private_key: str = field(default="", repr=False)
    ssh_host_key: str = ""
