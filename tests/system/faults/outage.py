"""What a person and a load balancer see while PostgreSQL is down, one check for the fault
tests on processes (test_database_outage) and on the production stack (test_stack_faults)."""

from __future__ import annotations

import requests


def assert_database_down_answers(
    page: requests.Response, ready: requests.Response, alive: requests.Response
) -> None:
    """A logged-in page, /readyz and /healthz, fetched while the database was down."""
    assert page.status_code == 503, page.text[:500]
    assert "temporarily unavailable" in page.text
    assert "Traceback" not in page.text and "OperationalError" not in page.text
    assert page.headers["Retry-After"] == "30"
    # Readiness names the dependency that is down, and only that.
    assert (ready.status_code, ready.json()) == (503, {"database": "down", "broker": "ok"})
    # Liveness holds: restarting the web would not bring the database back.
    assert alive.status_code == 200
