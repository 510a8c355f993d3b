"""`production_stack`: docker-compose.yml started for real (tests/system/stack/stack.py).

For a test elsewhere (a broker or database outage against the production shape, say):

    from tests.system.stack.fixture import production_stack  # noqa: F401  (the fixture)

    def test_redis_restart(production_stack: Stack) -> None:
        production_stack.compose("restart", "redis")
        ...

The stack is session-scoped, started once per run with a fresh database and torn down at
the end (`compose down -v`); the images stay cached in the stack's daemon. Everything a
fault test needs hangs off the object: `compose(...)`, `exec(service, ...)`,
`manage(...)`, `inspect(service)`, `login()`, `url`, the scanned lab daemon `target`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator

import pytest

from lab.process import running
from tests.system.stack.stack import Stack

# The stack brings its own PostgreSQL, so it proves nothing more on the suite's second
# database: it runs in the PostgreSQL run only (scripts/test), to keep the SQLite run short.
needs_stack = pytest.mark.skipif(
    os.environ.get("POSTURE_DB_ENGINE", "sqlite") != "postgres",
    reason="the production stack runs in the PostgreSQL run of the suite",
)


@pytest.fixture(scope="session")
def production_stack() -> Iterator[Stack]:
    missing = [tool for tool in ("mmdebstrap", "docker-compose") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} (scripts/test installs them)")
    stack = Stack()
    started = time.monotonic()
    with running(stack.daemon):
        stack.build()
        try:
            stack.up()
            stack.timings["setup"] = round(time.monotonic() - started, 1)
            yield stack
        finally:
            stack.down()
            # The figures docs/OPERATIONS.md quotes (first run and warm run), per step.
            (stack.dir / "timings.json").write_text(json.dumps(stack.timings, indent=2) + "\n")
