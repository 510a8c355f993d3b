"""A real SMTP server on loopback for the mail tests: aiosmtpd, in the test process.

Messages are kept as parsed `email.message.EmailMessage` objects so a test reads what
actually arrived over SMTP (headers, both parts, inline images), not what Django meant
to send.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from lab.process import free_port


class _Handler:
    def __init__(self, inbox: LabSmtp) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.inbox._arrived(list(envelope.rcpt_tos), message)
        return "250 Message accepted for delivery"


class LabSmtp:
    """Start, read the inbox, clear it between tests, stop."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self._lock = threading.Condition()
        self._controller = Controller(_Handler(self), hostname=host, port=self.port)

    def start(self) -> LabSmtp:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> LabSmtp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _arrived(self, recipients: list[str], message: EmailMessage) -> None:
        with self._lock:
            self.messages.append((recipients, message))
            self._lock.notify_all()

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The first `count` messages, waiting for them to arrive (mail is sent by workers)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.messages)} of {count} messages arrived")
                self._lock.wait(left)
            return [m for _, m in self.messages[:count]]

    def settings(self) -> dict[str, Any]:
        """Django settings pointing the SMTP backend at this server."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": self.host,
            "EMAIL_PORT": self.port,
            "EMAIL_USE_TLS": False,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
        }
