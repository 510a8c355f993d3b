"""Who and from where, for the model changes django-auditlog records during a request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auditlog.context import set_extra_data
from auditlog.middleware import AuditlogMiddleware as _AuditlogMiddleware
from django.http import HttpRequest, HttpResponse

from audit.services import client_address


class AuditlogMiddleware(_AuditlogMiddleware):
    """auditlog's middleware, minus what a client could forge: the stock one takes the
    address from X-Forwarded-For and the port from X-Forwarded-Port when a client sends
    them, and a correlation id from a request header. Here the address is REMOTE_ADDR, as
    for every audit event (behind a proxy, the proxy sets it: gunicorn's
    forwarded_allow_ips), and nothing else is read from the headers."""

    get_response: Callable[[HttpRequest], HttpResponse]

    def get_extra_data(self, request: HttpRequest) -> dict[str, Any]:
        actor = self._get_actor(request)
        data: dict[str, Any] = {"remote_addr": client_address(request), "actor": actor}
        if actor is not None:
            # The name as well as the account, as AuditEvent keeps it: deleting the user
            # empties the foreign key, and who did what must still read.
            data["additional_data"] = {"actor": actor.get_username()}
        return data

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with set_extra_data(context_data=self.get_extra_data(request)):
            return self.get_response(request)
