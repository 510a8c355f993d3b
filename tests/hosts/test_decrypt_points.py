"""Stored keys are opened in one place, and only on the worker's road: Host.credentials(),
called by scans.services.run_scan (a Celery task, or `manage.py scan`); and the alert
channels' URLs and signing keys in alerts.deliveries, which only Celery tasks reach. A view,
a form or a template tag that opened one would need the web process to hold the private key."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = [
    p
    for p in ROOT.iterdir()
    if (p / "__init__.py").exists() and p.name not in {"tests", "lab", "bench"}
]
ALLOWED = {
    "decrypt": {
        "posture/lib/crypto.py",
        "hosts/models.py",
        "hosts/credentials.py",
        # The channels' sealed URL and signing key, opened just before each POST. Allowed
        # because the module runs in workers only: see the test of its importers below.
        "alerts/deliveries.py",
    },
    "credentials": {"scans/services.py"},
    # A tcp:// host's separate SSH access for the host checks, opened on their thread
    # (scans.hostchecks.HostChecks, which only scans.services.run_scan starts).
    "ssh_access_credentials": {"scans/hostchecks.py"},
}


@functools.cache
def modules() -> tuple[tuple[str, ast.Module], ...]:
    """Every module of the apps, parsed once for all the checks here and in test_rotate_keys."""
    return tuple(
        (str(path.relative_to(ROOT)), ast.parse(path.read_text(), filename=str(path)))
        for app in APPS
        for path in app.rglob("*.py")
    )


def importers(module: str) -> set[str]:
    """Files that import `module` (as `import a.b`, `from a import b` or `from a.b import x`)."""
    found = set()
    for path, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported = {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported = {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            else:
                continue
            if module in imported:
                found.add(path)
    return found


def calls(name: str) -> set[str]:
    found = set()
    for path, tree in modules():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute | ast.Name)
                and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
                == name
            ):
                found.add(path)
    return found


def test_stored_keys_are_opened_only_on_the_worker_road() -> None:
    assert calls("decrypt") <= ALLOWED["decrypt"]
    assert calls("credentials") == ALLOWED["credentials"]
    assert calls("ssh_access_credentials") == ALLOWED["ssh_access_credentials"]
    assert importers("scans.hostchecks") == {"scans/services.py"}


def test_the_channels_secrets_are_opened_only_by_celery_tasks() -> None:
    """alerts.deliveries opens the sealed URLs: it is reached through alerts.tasks only
    (directly, or through alerts.services' event processing and sweep, themselves called by
    tasks alone); the web hands a task the subscription's id (alerts.channels.test)."""
    assert importers("alerts.deliveries") == {"alerts/services.py", "alerts/tasks.py"}
    assert calls("process_event") == {"alerts/services.py", "alerts/tasks.py"}
    assert calls("send_due") == {"alerts/tasks.py"}
    assert calls("send_test") == {"alerts/tasks.py"}
