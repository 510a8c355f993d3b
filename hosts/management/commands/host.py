"""manage.py host add|list|remove|import|export: the inventory from the command line.

import and export are hosts.inventory's (docs/INVENTORY.md): the command only reads the
file or the Docker context and prints the plan. The command line acts as an admin: whoever
runs manage.py already holds this machine (unix:// endpoints, any file, the environment).
"""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from access.roles import Role
from access.scope import Scope
from access.services import Access
from audit.services import record
from hosts import dockercontext, inventory, inventory_entries, inventory_io, keys, targets
from hosts.endpoints import Transport, format_ssh_access, parse_endpoint, parse_ssh_access
from hosts.models import Host


def _read(path: str | None) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None


def _labels(items: list[str]) -> dict[str, str]:
    labels = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--label takes key=value, not {item!r}")
        labels[key.strip()] = value.strip()
    return labels


def _reference(value: str | None) -> str | None:
    if not value or value.startswith(("file:", "env:")):
        return value
    return f"file:{Path(value).expanduser().resolve()}"


class Command(BaseCommand):
    help = "Register, list and remove Docker hosts."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="register a host")
        add.add_argument("name")
        add.add_argument("endpoint", help="unix:///path, tcp://host:2376 or ssh://user@host:22")
        add.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
        add.add_argument("--owner", default="", help="owner email")
        add.add_argument("--interval", type=int, help="scan interval in minutes")
        add.add_argument("--ca", help="CA certificate file (tcp://)")
        add.add_argument("--cert", help="client certificate file (tcp://)")
        add.add_argument("--key", help="client key file (tcp://)")
        add.add_argument("--ssh-key", help="SSH private key file (ssh://, or with --ssh-access)")
        add.add_argument(
            "--ssh-access",
            default="",
            metavar="USER@HOST:PORT",
            help="tcp:// hosts: SSH access for the host-level checks only (with --ssh-key and "
            "--host-key)",
        )
        add.add_argument("--host-key", default="", help="pinned host key: 'ssh-ed25519 AAAA...'")
        add.add_argument("--host-key-file", help="file holding the pinned host key line")
        add.add_argument("--disabled", action="store_true", help="register without scheduling")
        add.add_argument(
            "--image-scan",
            choices=["off", "os", "deep"],
            default="",
            help="how images are inventoried (default: POSTURE_IMAGE_SCAN)",
        )
        lst = sub.add_parser("list", help="list hosts")
        lst.add_argument("--format", choices=["text", "json"], default="text")
        rm = sub.add_parser("remove", help="remove a host and its history")
        rm.add_argument("name")
        imp = sub.add_parser(
            "import", help="apply an inventory file (YAML or CSV), or a Docker context"
        )
        imp.add_argument("file", nargs="?", help="inventory file (- for standard input)")
        imp.add_argument("--format", choices=["yaml", "csv"], help="default: from the file name")
        imp.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
        imp.add_argument(
            "--prune", action="store_true", help="remove the hosts the file does not list"
        )
        imp.add_argument(
            "--docker-context",
            metavar="NAME|ARCHIVE",
            help="a Docker context, or a `docker context export` file",
        )
        imp.add_argument(
            "--docker-env",
            action="store_true",
            help="DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH",
        )
        imp.add_argument("--name", help="the host's name (with --docker-context / --docker-env)")
        imp.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
        imp.add_argument("--owner", default="", help="owner email")
        imp.add_argument("--ssh-key", help="ssh:// contexts: the key's file (or env:NAME)")
        imp.add_argument("--host-key", help="ssh:// contexts: the pinned host key line")
        exp = sub.add_parser("export", help="print the inventory (no private keys)")
        exp.add_argument("--format", choices=["yaml", "csv"], default="yaml")

    def handle(self, *args: Any, **opts: Any) -> None:
        getattr(self, f"handle_{opts['action']}")(opts)

    def handle_add(self, opts: dict[str, Any]) -> None:
        try:
            endpoint = parse_endpoint(opts["endpoint"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        # The target policy holds here too; a unix:// socket anywhere is the caller's say:
        # whoever runs manage.py already holds this machine.
        if endpoint.transport is not Transport.UNIX:
            try:
                targets.check_endpoint(opts["endpoint"], allow_unix=True)
            except targets.TargetRefused as exc:
                raise CommandError(exc.sentence) from None
        if Host.objects.filter(name=opts["name"]).exists():
            raise CommandError(f"a host named {opts['name']!r} already exists")
        host = Host(
            name=opts["name"],
            endpoint=opts["endpoint"],
            labels=_labels(opts["label"]),
            owner_email=opts["owner"],
            enabled=not opts["disabled"],
            image_scan=opts["image_scan"],
        )
        if opts["interval"]:
            host.scan_interval = opts["interval"]
        try:
            if endpoint.transport is Transport.TLS:
                ca, cert, key = _read(opts["ca"]), _read(opts["cert"]), _read(opts["key"])
                if not (ca and cert and key):
                    raise CommandError("tcp:// hosts need --ca, --cert and --key (mutual TLS)")
                keys.check_certificates(ca, "CA certificate")
                keys.check_certificates(cert, "client certificate")
                keys.check_private_key(key)
                host.tls_ca_cert, host.tls_client_cert = ca, cert
                host.set_tls_client_key(key)
                if opts["ssh_access"]:
                    self._ssh_access(host, opts)
            elif opts["ssh_access"]:
                raise CommandError("--ssh-access is for tcp:// hosts only")
            elif endpoint.transport is Transport.SSH:
                private = _read(opts["ssh_key"])
                pinned = (opts["host_key"] or _read(opts["host_key_file"])).strip()
                if not (private and pinned):
                    raise CommandError(
                        "ssh:// hosts need --ssh-key and --host-key (or --host-key-file): "
                        "the host key is pinned, never learnt on first use"
                    )
                keys.load_ssh_private_key(private)
                keys.parse_ssh_host_key(pinned)
                host.ssh_host_key = pinned.splitlines()[0]
                host.set_ssh_private_key(private)
            host.full_clean()
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        with transaction.atomic():
            host.save()
            record(
                "host.created",
                source="cli",
                target=host,
                details={"endpoint": host.endpoint, "labels": host.labels},
            )
        self.stdout.write(
            f"added {host.name} ({endpoint.transport.value}, every {host.scan_interval} min)"
        )

    def _ssh_access(self, host: Host, opts: dict[str, Any]) -> None:
        """The same three parts as the host form's: address (target policy), pinned host
        key, private key (sealed)."""
        try:
            address = format_ssh_access(parse_ssh_access(opts["ssh_access"]))
        except ValidationError as exc:
            raise CommandError(f"--ssh-access: {' '.join(exc.messages)}") from None
        try:
            targets.check_endpoint(f"ssh://{address}", allow_unix=False)
        except targets.TargetRefused as exc:
            raise CommandError(exc.sentence) from None
        private = _read(opts["ssh_key"])
        pinned = (opts["host_key"] or _read(opts["host_key_file"])).strip()
        if not (private and pinned):
            raise CommandError(
                "--ssh-access needs --ssh-key and --host-key (or --host-key-file): the host "
                "key is pinned, never learnt on first use"
            )
        keys.load_ssh_private_key(private)
        keys.parse_ssh_host_key(pinned)
        host.ssh_access = address
        host.ssh_access_host_key = pinned.splitlines()[0]
        host.set_ssh_access_key(private)

    def handle_list(self, opts: dict[str, Any]) -> None:
        hosts = Host.objects.select_related("posture").order_by("name")
        rows = []
        for host in hosts:
            posture = getattr(host, "posture", None)
            rows.append(
                {
                    "name": host.name,
                    "endpoint": host.endpoint,
                    "labels": host.labels,
                    "enabled": host.enabled,
                    "score": posture.score if posture else None,
                    "grade": posture.grade if posture else "",
                    "last_error": posture.last_error_class if posture else "",
                }
            )
        if opts["format"] == "json":
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for row in rows:
            score = "-" if row["score"] is None else f"{row['score']:>3} {row['grade']}"
            status = row["last_error"] or ("ok" if row["score"] is not None else "never scanned")
            self.stdout.write(f"{row['name']:<24} {score:<6} {status:<18} {row['endpoint']}")

    def handle_import(self, opts: dict[str, Any]) -> None:
        if opts["docker_context"] or opts["docker_env"]:
            entries = [self._docker_entry(opts)]
        elif opts["file"]:
            entries = self._file_entries(opts)
        else:
            raise CommandError("give an inventory FILE, --docker-context or --docker-env")
        result = inventory.run(
            entries,
            access=Access(role=Role.ADMIN, scope=Scope.everything()),
            audit={"source": "cli"},
            dry_run=opts["dry_run"],
            prune=opts["prune"],
        )
        if result.errors:
            raise CommandError(
                "inventory refused, nothing applied:\n  " + "\n  ".join(result.errors)
            )
        for line in inventory.describe(result):
            self.stdout.write(line)
        suffix = " (dry run: nothing written)" if opts["dry_run"] else ""
        self.stdout.write(result.summary() + suffix)

    def _file_entries(self, opts: dict[str, Any]) -> list[inventory_entries.Entry]:
        path = opts["file"]
        fmt = opts["format"] or inventory_io.detect_format(path)
        if path == "-":
            data, base = sys.stdin.buffer.read(inventory_io.MAX_BYTES + 1), Path.cwd()
        else:
            try:
                with open(path, "rb") as handle:
                    data = handle.read(inventory_io.MAX_BYTES + 1)
            except OSError as exc:
                raise CommandError(f"cannot read {path}: {exc.strerror}") from None
            base = Path(path).resolve().parent
        try:
            raw = inventory_io.parse(data, fmt)
        except inventory_io.InventoryError as exc:
            raise CommandError("\n".join(exc.messages)) from None
        refs = inventory_entries.References(base_dir=base)
        return [inventory_entries.read_entry(r, refs) for r in raw]

    def _docker_entry(self, opts: dict[str, Any]) -> inventory_entries.Entry:
        try:
            if opts["docker_context"]:
                endpoint = dockercontext.load_context(opts["docker_context"])
            else:
                endpoint = dockercontext.read_environment()
        except dockercontext.ContextError as exc:
            raise CommandError(str(exc)) from None
        # A context's name is a fine host name; an archive's file name is not.
        context = opts["docker_context"] or ""
        name = opts["name"] or ("" if not context or Path(context).exists() else context)
        if not name:
            raise CommandError("give the host's name with --name")
        values = {
            "name": name,
            "labels": _labels(opts["label"]),
            "owner": opts["owner"],
            # A path on the command line is this machine's file: the reference it means.
            "ssh_key": _reference(opts["ssh_key"]),
            "host_key": opts["host_key"],
        }
        return dockercontext.entry(endpoint, values, inventory_entries.References())

    def handle_export(self, opts: dict[str, Any]) -> None:
        entries = inventory.export_entries(Host.objects.order_by("name"))
        dump = inventory_io.dump_csv if opts["format"] == "csv" else inventory_io.dump_yaml
        record(
            "host.inventory_exported",
            source="cli",
            details={"format": opts["format"], "hosts": len(entries)},
        )
        self.stdout.write(dump(entries), ending="")

    def handle_remove(self, opts: dict[str, Any]) -> None:
        host = Host.objects.filter(name=opts["name"]).first()
        if host is None:
            raise CommandError(f"no host named {opts['name']!r}")
        with transaction.atomic():
            record("host.deleted", source="cli", target=host, details={"endpoint": host.endpoint})
            host.delete()
        self.stdout.write(f"removed {opts['name']}")
