"""Every property test runs the same examples on every run (tests/strategies.FUZZ), so a CI
failure reproduces on a laptop, and a pass does not depend on the day's luck."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _name(node: ast.expr) -> str:
    node = node.func if isinstance(node, ast.Call) else node
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _fixed(decorator: ast.expr) -> bool:
    if _name(decorator) == "FUZZ":
        return True
    if isinstance(decorator, ast.Call) and _name(decorator) == "settings":
        parent = decorator.args[0] if decorator.args else None
        derandomize = any(
            k.arg == "derandomize" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in decorator.keywords
        )
        return (parent is not None and _name(parent) == "FUZZ") or derandomize
    return False


def test_every_given_is_on_the_fixed_seed_profile():
    random = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            decorators = node.decorator_list
            if any(_name(d) == "given" for d in decorators) and not any(map(_fixed, decorators)):
                random.append(f"{path.relative_to(TESTS.parent)}:{node.lineno} {node.name}")

    assert random == [], "add @FUZZ or @settings(FUZZ, ...):\n" + "\n".join(random)
