"""Stored keys are opened in one place, and only on the worker's road: Host.credentials(),
called by scans.services.run_scan (a Celery task, or `manage.py scan`). A view, a form or a
template tag that opened one would need the web process to hold the private key."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = [
    p
    for p in ROOT.iterdir()
    if (p / "__init__.py").exists() and p.name not in {"tests", "lab", "bench"}
]
ALLOWED = {
    "decrypt": {"posture/lib/crypto.py", "hosts/models.py", "hosts/credentials.py"},
    "credentials": {"scans/services.py"},
    # A tcp:// host's separate SSH access for the host checks (scans.hostssh).
    "ssh_access_credentials": {"scans/services.py"},
}


def calls(name: str) -> set[str]:
    found = set()
    for app in APPS:
        for path in app.rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute | ast.Name)
                    and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
                    == name
                ):
                    found.add(str(path.relative_to(ROOT)))
    return found


def test_stored_keys_are_opened_only_on_the_worker_road() -> None:
    assert calls("decrypt") <= ALLOWED["decrypt"]
    assert calls("credentials") == ALLOWED["credentials"]
    assert calls("ssh_access_credentials") == ALLOWED["ssh_access_credentials"]
