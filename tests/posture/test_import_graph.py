"""The architecture holds: dependencies between the apps point one way.

Every product module is parsed (not imported), so an import inside a function or under
`if TYPE_CHECKING:` counts as much as one at the top. Migrations, tests, the lab, benchmarks
and scripts are not product code and are left out.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "posture"
# The project package, the pure rule engine, then the apps bottom to top (INSTALLED_APPS).
PACKAGES = (
    "posture",
    "rules",
    "access",
    "audit",
    "hosts",
    "findings",
    "vulndb",
    "vulns",
    "policy",
    "scans",
    "fleet",
    "trends",
    "alerts",
    "accounts",
    "api",
)
# The project's own files that may name apps: that is wiring, not a dependency.
WIRING = {"settings.py", "urls.py", "celery.py", "wsgi.py", "asgi.py", "apps.py"}
MAX_LINES = 500


@dataclass(frozen=True)
class Import:
    source: str  # the importing package
    target: str  # the imported top-level package
    path: Path
    line: int
    statement: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.statement}"


def product_files() -> list[Path]:
    files = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.relative_to(ROOT).parts:
                files.append(path)
    return files


def _module_of(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported_modules(path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        return [node.module or ""]
    # A relative import: resolve it against the importing module's package.
    package = _module_of(path)
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return [".".join([*base, node.module] if node.module else base)]


@cache
def imports() -> tuple[Import, ...]:
    found = []
    for path in product_files():
        source = path.relative_to(ROOT).parts[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for module in _imported_modules(path, node):
                found.append(
                    Import(source, module.split(".")[0], path, node.lineno, ast.unparse(node))
                )
    return tuple(found)


def app_edges() -> list[Import]:
    """Imports from one package of PACKAGES into another, leaving out the project's wiring."""
    return [
        i
        for i in imports()
        if i.target in PACKAGES
        and i.target != i.source
        and not (i.source == PROJECT and i.path.parent == ROOT / PROJECT and i.path.name in WIRING)
    ]


def graph() -> dict[str, dict[str, list[Import]]]:
    edges: dict[str, dict[str, list[Import]]] = defaultdict(lambda: defaultdict(list))
    for i in app_edges():
        edges[i.source][i.target].append(i)
    return edges


def test_every_installed_app_of_ours_is_checked():
    ours = {
        name.split(".")[0]
        for name in settings.INSTALLED_APPS
        if (ROOT / name.split(".")[0] / "__init__.py").exists()
    }

    assert ours - set(PACKAGES) == set(), "add the new app to PACKAGES"
    assert all((ROOT / package / "__init__.py").exists() for package in PACKAGES)


def test_the_parser_sees_lazy_and_type_checking_imports():
    # GIVEN a module whose imports hide in a function and a TYPE_CHECKING block
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from scans.models import ScanRun\n"
        "def f():\n    import alerts.tasks\n    from . import sibling\n"
    )
    path = ROOT / "hosts" / "probe.py"
    # WHEN its import nodes are resolved THEN each names its top-level package
    targets = [
        module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for module in _imported_modules(path, node)
    ]
    assert targets == ["typing", "scans", "alerts", "hosts"]


def test_no_two_apps_import_each_other():
    edges = graph()
    offenders = [
        f"{a} <-> {b}: {edges[a][b][0]}  and  {edges[b][a][0]}"
        for a in sorted(edges)
        for b in sorted(edges[a])
        if a < b and edges[b].get(a)
    ]

    assert offenders == [], "apps importing each other:\n" + "\n".join(offenders)


def test_the_project_package_imports_no_app_outside_its_wiring():
    offenders = [str(i) for i in app_edges() if i.source == PROJECT]

    assert offenders == [], "posture/ must not import an app:\n" + "\n".join(offenders)


def test_the_rule_engine_imports_neither_django_nor_an_app():
    offenders = [
        str(i)
        for i in imports()
        if i.source == "rules"
        and (i.target == "django" or (i.target in PACKAGES and i.target != "rules"))
    ]

    assert offenders == [], "rules/ must stay pure Python:\n" + "\n".join(offenders)


def _find_cycle(edges: dict[str, dict[str, list[Import]]]) -> list[str] | None:
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, {})):
            if state.get(nxt) == "open":  # on the current path: a cycle back to it
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_the_app_graph_is_acyclic():
    edges = graph()
    cycle = _find_cycle(edges) or []
    evidence = [str(edges[a][b][0]) for a, b in zip(cycle, cycle[1:], strict=False)]

    assert cycle == [], f"import cycle {' -> '.join(cycle)}:\n" + "\n".join(evidence)


def test_the_cycle_finder_finds_a_cycle_of_three():
    probe = Import("a", "b", ROOT / "x.py", 1, "import b")
    edges = {"a": {"b": [probe]}, "b": {"c": [probe]}, "c": {"a": [probe]}, "d": {"a": [probe]}}

    assert _find_cycle(edges) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b": [probe]}, "b": {}}) is None


def test_no_product_module_passes_500_lines():
    sizes = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in product_files()}
    offenders = [f"{p.relative_to(ROOT)}: {n} lines" for p, n in sizes.items() if n > MAX_LINES]

    assert offenders == [], f"split these modules (over {MAX_LINES} lines):\n" + "\n".join(
        offenders
    )
