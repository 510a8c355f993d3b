"""One error taxonomy for every transport, in words a person understands.

Each class says whether retrying could help (transient) or a person must act (permanent).
"""

from __future__ import annotations

from enum import StrEnum

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class ErrorClass(StrEnum):
    UNREACHABLE = "unreachable"
    TARGET_REFUSED = "target_refused"
    TLS_VERIFY = "tls_verify"
    HOST_KEY_MISMATCH = "host_key_mismatch"
    HOST_KEY_UNKNOWN = "host_key_unknown"
    AUTH_FAILED = "auth_failed"
    PERMISSION_DENIED = "permission_denied"
    TIMEOUT = "timeout"
    API_VERSION = "api_version"
    MALFORMED = "malformed"
    DAEMON_ERROR = "daemon_error"
    CONFIGURATION = "configuration"
    INTERRUPTED = "interrupted"
    INTERNAL = "internal"

    @property
    def label(self) -> str:
        return str(LABELS[self][0])

    @property
    def advice(self) -> str:
        return str(LABELS[self][1])

    @property
    def transient(self) -> bool:
        return self in TRANSIENT


# Lazy: each page and mail reads them in its reader's language.
LABELS: dict[ErrorClass, tuple[Promise, Promise]] = {
    ErrorClass.UNREACHABLE: (
        _("Host unreachable"),
        _(
            "Nothing answered at this address and port. Check that the daemon runs, listens "
            "there, and that no firewall is in the way."
        ),
    ),
    ErrorClass.TARGET_REFUSED: (
        _("Target refused by policy"),
        _(
            "The address this endpoint names, or one its name resolves to, is outside what "
            "POSTURE_ALLOWED_TARGETS allows, or is a link-local or cloud metadata address, or is "
            "written in an ambiguous form. Posture did not connect. Correct the endpoint, or ask "
            "whoever runs Posture to allow the address."
        ),
    ),
    ErrorClass.TLS_VERIFY: (
        _("TLS verification failed"),
        _(
            "The daemon's certificate was not signed by the CA stored for this host, has "
            "expired, or does not name this address. Posture never scans unverified hosts."
        ),
    ),
    ErrorClass.HOST_KEY_MISMATCH: (
        _("SSH host key mismatch"),
        _(
            "The server presented a different host key from the one pinned for this host. "
            "It may have been reinstalled, or someone is in the middle. Check, then update "
            "the pinned key."
        ),
    ),
    ErrorClass.HOST_KEY_UNKNOWN: (
        _("SSH host key not pinned"),
        _(
            "No pinned host key matches this server. Paste the server's public host key "
            "(ssh-keyscan output, checked out of band) into the host's settings."
        ),
    ),
    ErrorClass.AUTH_FAILED: (
        _("Authentication failed"),
        _(
            "The daemon or SSH server refused Posture's credentials (client certificate or "
            "SSH key)."
        ),
    ),
    ErrorClass.PERMISSION_DENIED: (
        _("Permission denied"),
        _(
            "Posture logged in but may not talk to the Docker socket (is the SSH user allowed "
            "to use docker?), or the docker CLI is missing on the host."
        ),
    ),
    ErrorClass.TIMEOUT: (
        _("Timed out"),
        _("The daemon took longer than the scan's time budget to answer."),
    ),
    ErrorClass.API_VERSION: (
        _("API version too old"),
        _(
            "The daemon speaks an Engine API older than 1.24 (Docker 1.12). Upgrade it: "
            "cheat-sheet rule 0."
        ),
    ),
    ErrorClass.MALFORMED: (
        _("Malformed response"),
        _(
            "The daemon answered with something that is not the Engine API's JSON (or "
            "too large, or cut off). Nothing from this scan was kept."
        ),
    ),
    ErrorClass.DAEMON_ERROR: (
        _("Daemon error"),
        _("The daemon returned a server error while being scanned."),
    ),
    ErrorClass.CONFIGURATION: (
        _("Incomplete host settings"),
        _(
            "The host lacks the credentials its endpoint needs (CA, client certificate and "
            "key for tcp://; private key and pinned host key for ssh://)."
        ),
    ),
    ErrorClass.INTERRUPTED: (
        _("Scan interrupted"),
        _("The worker running this scan stopped before it finished; it will run again."),
    ),
    ErrorClass.INTERNAL: (
        _("Internal error"),
        _("Posture failed on its side; see the worker log."),
    ),
}

TRANSIENT = {
    ErrorClass.UNREACHABLE,
    ErrorClass.TIMEOUT,
    ErrorClass.DAEMON_ERROR,
    ErrorClass.INTERRUPTED,
}


class ScanError(Exception):
    def __init__(self, error_class: ErrorClass, detail: str = "") -> None:
        super().__init__(f"{error_class.label}: {detail}" if detail else error_class.label)
        self.error_class = error_class
        # Details may quote the daemon: keep them short; templates escape them.
        self.detail = detail[:500]

    @property
    def transient(self) -> bool:
        return self.error_class.transient


class NotFound(ScanError):
    """The daemon answered 404.

    Collection catches it where an object can go away between listing and inspecting it.
    Anywhere else (/_ping, /info, a listing) a 404 means the peer is not the Engine API it
    claims to be, so uncaught it ends the scan as malformed rather than as a crash.
    """

    def __init__(self, path: str) -> None:
        super().__init__(ErrorClass.MALFORMED, f"{path}: the daemon answered 404 Not Found")
        self.path = path


def dial_stdio_error(stderr: bytes) -> ScanError | None:
    """What a remote `docker system dial-stdio` wrote to stderr, classified: the one reading
    for both SSH clients (paramiko's channels, OpenSSH's sessions)."""
    message = stderr.decode("utf-8", "replace").strip()[:300]
    lowered = message.lower()
    if "permission denied" in lowered:
        return ScanError(ErrorClass.PERMISSION_DENIED, message)
    if "not found" in lowered and "docker" in lowered:
        return ScanError(ErrorClass.PERMISSION_DENIED, f"docker CLI missing: {message}")
    if "cannot connect" in lowered or "no such file" in lowered:
        return ScanError(ErrorClass.UNREACHABLE, f"remote daemon: {message}")
    return None
