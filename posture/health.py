"""Readiness and the page shown when the database is down.

/healthz says the process answers (liveness: restarting it would not help when the
database is down); /readyz says which dependency is down, so that an operator — or a
load balancer taking the instance out of rotation — knows where to look. Neither reveals
more than the dependencies' names and ok/down.
"""

from __future__ import annotations

import logging
import sys

from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.views import defaults

log = logging.getLogger(__name__)
# Seconds a client is asked to wait before trying again: PostgreSQL restarts in a few.
RETRY_AFTER = 30
BROKER_TIMEOUT = 2.0


def database_ok() -> bool:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError as exc:
        log.warning("readiness: database down: %s", type(exc).__name__)
        # A connection the server dropped stays broken: the next request opens a new one.
        connections["default"].close_if_unusable_or_obsolete()
        return False


def broker_ok() -> bool:
    from posture.celery import app

    try:
        with app.connection_for_read(connect_timeout=BROKER_TIMEOUT) as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
        return True
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is "down"
        log.warning("readiness: broker down: %s", type(exc).__name__)
        return False


def readiness() -> dict[str, bool]:
    return {"database": database_ok(), "broker": broker_ok()}


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the database being unreachable is a known outage, not a bug — a 503 page
    that says so and when to try again (no stack trace, no context processor that would
    query the database once more); anything else is Django's plain 500."""
    error = sys.exc_info()[1]
    if isinstance(error, (OperationalError, InterfaceError)):
        page = loader.render_to_string("503.html")
        response = HttpResponse(page, status=503)
        response["Retry-After"] = str(RETRY_AFTER)
        return response
    return defaults.server_error(request)
