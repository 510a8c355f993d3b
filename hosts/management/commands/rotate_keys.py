"""manage.py rotate_keys: re-seal every stored credential under the current key.

Stored secrets (hosts' TLS client keys and SSH private keys, the alert channels' URLs and
webhook signing keys: any model field named *_enc) are sealed with
POSTURE_CREDENTIALS_PUBLIC_KEY and opened with POSTURE_CREDENTIALS_PRIVATE_KEYS
(posture.lib.crypto). To rotate:

1. `manage.py rotate_keys --generate` prints a new key pair.
2. Put the new private key FIRST in the workers' POSTURE_CREDENTIALS_PRIVATE_KEYS, the old
   ones after it, and the new public key in every process's POSTURE_CREDENTIALS_PUBLIC_KEY;
   restart. New and edited keys are now sealed under the new key; old ones still open.
3. Run `manage.py rotate_keys` where the private keys are (a worker): every secret is opened
   and sealed again under the new key, one transaction per batch. It is idempotent: run it
   again after an interruption. Credentials from before sealed boxes (Fernet,
   POSTURE_ENCRYPTION_KEYS) are re-sealed too.
4. `manage.py rotate_keys --check` lists what is still under an old key or Fernet; when it
   lists nothing, remove the old private key (and POSTURE_ENCRYPTION_KEYS) and restart.

Exit status: 1 when a secret could not be re-sealed (--check: when one is still stale).
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.services import record
from hosts.credentials import rotate, stale
from posture.lib import crypto


class Command(BaseCommand):
    help = "Re-seal every stored credential under the current key (see --check, --generate)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        what = parser.add_mutually_exclusive_group()
        what.add_argument(
            "--check", action="store_true", help="list secrets still under an old key or Fernet"
        )
        what.add_argument(
            "--generate", action="store_true", help="print a new key pair and change nothing"
        )
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["generate"]:
            return self._generate()
        try:
            ring = crypto.keyring()
        except Exception as exc:  # ImproperlyConfigured: the keys given cannot be read
            raise CommandError(str(exc)) from None
        if options["check"]:
            return self._check()
        if not ring.private:
            raise CommandError(f"{crypto.NO_PRIVATE_KEY}; run rotate_keys on a worker")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        report = rotate(options["batch_size"])
        for line in report.failed:
            self.stderr.write(f"not re-sealed: {line}")
        record(
            "keys.rotated",
            source="cli",
            details={
                "key_id": ring.current_id,
                "resealed": report.resealed,
                "already_current": report.already_current,
                "failed": len(report.failed),
            },
        )
        self.stdout.write(
            f"{report.resealed} re-sealed, {report.already_current} already under key "
            f"{ring.current_id}, {len(report.failed)} failed"
        )
        if report.failed:
            sys.exit(1)

    def _generate(self) -> None:
        private, public = crypto.generate_pair()
        # A key printed to a terminal: the person moves it into a secrets file at once.
        self.stdout.write(f"POSTURE_CREDENTIALS_PRIVATE_KEYS (first, workers only): {private}")
        self.stdout.write(f"POSTURE_CREDENTIALS_PUBLIC_KEY (every process): {public}")

    def _check(self) -> None:
        found = list(stale())
        for item in found:
            self.stdout.write(f"{item.model} {item.pk} ({item.name}) {item.field}: {item.sealing}")
        self.stdout.write(
            f"{len(found)} secret(s) not under the current key {crypto.keyring().current_id}"
        )
        if found:
            sys.exit(1)
