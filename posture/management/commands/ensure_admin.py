"""Create the first administrator for the embedded mode, with a random password kept in a
0600 file, so that a fresh install never ships a known login."""

from __future__ import annotations

import os
import secrets
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create user 'admin' with a random password unless it exists."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password-file", required=True)

    def handle(self, *args: Any, **opts: Any) -> None:
        users = get_user_model()
        path = Path(opts["password_file"])
        if users.objects.filter(username=opts["username"]).exists():
            if not path.exists():
                path.write_text("(unchanged: set with manage.py changepassword admin)\n")
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(opts["username"], "", password)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        self.stdout.write(f"created {opts['username']}")
