""".dockerignore keeps the production image to what runs: the product in, the rest out.

`docker build` needs an engine, so this reads .dockerignore with a small matcher that follows
Docker's rules (moby/patternmatcher): Go's filepath.Match plus `**`, `!` re-includes, the last
matching line wins, and a line that matches a directory applies to everything below it.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
# Beside the product, never in it (STYLE.md, habit 1).
NOT_SHIPPED = ("lab", "tests", "bench")


def _regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "[":
            end = pattern.index("]", i + 1)
            out, i = out + "[" + pattern[i + 1 : end].replace("\\", "\\\\") + "]", end + 1
        else:
            out += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
            i += 1
    return re.compile(out + "$")


def read_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(re-include?, pattern) per line, in order."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.removeprefix("!").strip().strip("/")
        rules.append((negate, _regex(pattern)))
    return rules


def excluded(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    verdict = False
    for negate, regex in rules:
        if any(regex.match(prefix) for prefix in prefixes):
            verdict = not negate
    return verdict


RULES = read_rules((ROOT / ".dockerignore").read_text())


def product_packages() -> list[str]:
    """Every top-level Python package of the repository that is not lab, tests or bench."""
    return sorted(
        p.name
        for p in ROOT.iterdir()
        if (p / "__init__.py").is_file() and p.name not in NOT_SHIPPED
    )


def shipped_files() -> list[str]:
    """What the app needs at run time: its packages, manage.py and the lock file, and the
    directories settings.py names for templates, static files and translations."""
    files = ["manage.py", "requirements.lock"]
    for top in [*product_packages(), "templates", "static", "locale"]:
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                files.append(path.relative_to(ROOT).as_posix())
    return files


def test_matcher_follows_dockers_rules() -> None:
    rules = read_rules("*\n!app\n**/__pycache__\n*.md\n!README.md\ndocs/*/draft?.txt\n")
    assert excluded("secret.txt", rules)
    assert not excluded("app/models.py", rules)
    assert excluded("app/sub/__pycache__/models.cpython-311.pyc", rules)
    assert not excluded("README.md", rules)
    assert excluded("NOTES.md", rules)
    assert excluded("docs/en/draft1.txt", rules)


def test_the_product_packages_are_the_expected_ones() -> None:
    # A new app must be let into the image too: this list and .dockerignore change together.
    assert product_packages() == [
        "access",
        "accounts",
        "alerts",
        "api",
        "audit",
        "findings",
        "fleet",
        "hosts",
        "policy",
        "posture",
        "rules",
        "scans",
        "trends",
        "vulndb",
        "vulns",
    ]


def test_everything_the_app_runs_is_in_the_image() -> None:
    missing = [path for path in shipped_files() if excluded(path, RULES)]
    assert not missing


def test_every_copy_source_in_the_dockerfile_is_in_the_context() -> None:
    sources = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        # COPY --from=STAGE copies from an earlier stage, not from the context.
        if words and words[0] == "COPY" and not any(w.startswith("--from=") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    assert "requirements.lock" in sources
    assert not [s for s in sources if s != "." and excluded(s, RULES)]


def compose_secret_files() -> list[str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return [Path(s["file"]).as_posix() for s in compose["secrets"].values()]


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        "var/secret_key",
        "var/encryption_key",
        "secrets/db_password",
        *compose_secret_files(),
        "tests/conftest.py",
        "lab/process.py",
        "bench/bench_scan.py",
        "docs/RULES.md",
        "scripts/run",
        ".ci/run",
        "control/notes.txt",
        "node_modules/htmx/package.json",
        "requirements-test.lock",
        "posture/__pycache__/settings.cpython-311.pyc",
        "scans/transports/ssh.pyc",
        "posture/.env",
        "static/vendor/node_modules/x.js",
        "hosts/secrets/key",
    ],
)
def test_what_does_not_run_stays_out(path: str) -> None:
    assert excluded(path, RULES), path


def test_the_product_never_imports_what_stays_out() -> None:
    """The image holds no lab, tests or bench, so no shipped module may import them."""
    offenders = []
    for path in shipped_files():
        if not path.endswith(".py"):
            continue
        tree = ast.parse((ROOT / path).read_text(), filename=path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [f"{path}: {n}" for n in names if n.split(".")[0] in NOT_SHIPPED]
    assert not offenders


# Secret-looking files planted in a copy of the tree, at the top and inside what ships.
PLANTED = [
    "secrets/x",
    "secrets/db_password",
    "var/secret_key",
    "var/posture.sqlite3",
    ".env",
    ".env.production",
    "server.pem",
    "tls.key",
    "posture/.env",
    "posture/var/encryption_key",
    "hosts/secrets/token",
    "scans/client.key",
    "scans/transports/ca.pem",
    "static/vendor/site.key",
    "templates/.env.local",
    "locale/fr/id_ed25519",
    "rules/data/id_rsa",
    "findings/export.p12",
    "vulns/dump.sqlite3",
    "access/backup.pfx",
]


def build_context(root: Path) -> list[str]:
    """Every file `docker build` would send from root, as its .dockerignore decides."""
    rules = read_rules((root / ".dockerignore").read_text())
    files = (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return sorted(path for path in files if not excluded(path, rules))


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's tracked files, copied, with the planted files beside them."""
    copy = tmp_path_factory.mktemp("tree")
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (t.decode() for t in tracked)):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / name, copy / name)
    for name in PLANTED:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_text("-----BEGIN PRIVATE KEY-----\n")
    return copy


def test_no_secret_looking_file_enters_the_context(tree_copy: Path) -> None:
    context = build_context(tree_copy)
    assert "manage.py" in context and "posture/settings.py" in context
    assert not [path for path in PLANTED if path in context]


def test_the_context_is_the_product_and_nothing_else(tree_copy: Path) -> None:
    context = set(build_context(tree_copy))
    shipped = {p for p in shipped_files() if (tree_copy / p).is_file()}
    # The allowlist lets in exactly what runs: a new top-level file stays out unnamed.
    assert context == shipped
