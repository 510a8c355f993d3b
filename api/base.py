"""How to write an API endpoint (read this before adding one).

1. A view is a DRF class that mixes in `ApiMixin` FIRST and declares its access policy with
   the same decorators as the pages (access.policy), on the class::

       from access.policy import allow
       from access.roles import Perm
       from api.base import ApiMixin, scoped
       from rest_framework import generics

       @allow(Perm.VIEW, write=Perm.HOST_EDIT)   # GET needs VIEW; POST/PUT/PATCH/DELETE HOST_EDIT
       class ThingList(ApiMixin, generics.ListCreateAPIView):
           serializer_class = ThingSerializer
           cursor_ordering = ("-created_at", "-id")   # unique and stable: cursor pagination

           def get_queryset(self):
               return scoped(self.request, Thing.objects.all(), "host__")

   `api.middleware` checks the declaration before the view runs and answers 401 JSON (no
   token, bad token), 403 JSON (the role lacks the permission); DRF checks it again
   (api.base.DeclaredPolicy). A view without a declaration answers 403.
   `@public` / `@custom("why")` work as for pages (the view then checks for itself).

2. Who is calling: `self.access` (or `request_access(request)`, the same object) is the
   Access of the token (its role and teams, bounded by its creator's) or of the session.
   Pass `request` (DRF's Request proxies the Django one) to any existing service:
   `check_host(request, host.labels, Perm.HOST_SCAN)`, `audit.services.record(...,
   request=request)` work unchanged. Objects outside the scope are 404 (never 403): query
   through `scoped()` / `access.scope.filter(qs, prefix)` and `get_object_or_404`, or call
   `access.objects.check_host`.

3. Lists are cursor-paginated by default (`CursorPage`: ?cursor=…, ?limit= up to 500,
   answer {"next", "previous", "results"}); set `cursor_ordering` on the view to a unique
   ordering. Filters: plain query parameters read in get_queryset (see api/hosts.py).

4. Errors: raise DRF's exceptions (`ValidationError({"field": ["why"]})`, `NotFound`,
   `PermissionDenied`) or Django's Http404/PermissionDenied; every one leaves as
   {"error": {"code", "message", "fields"}} (api.errors). Do not build error bodies by hand.
   Form validation: `raise_form_errors(form)` turns a Django form's errors into field errors.

5. Reads get an ETag (sha256 of the body) and answer 304 to a matching If-None-Match;
   views that know when their data last changed may also set `Last-Modified` on the
   response, which `If-Modified-Since` then uses.

6. Schema: DRF serializers describe themselves; annotate what is not a serializer with
   drf_spectacular's `@extend_schema(responses=..., parameters=[OpenApiParameter(...)])`
   on the method, and give every view a `tags = ["things"]`-like `@extend_schema(tags=...)`
   through `schema_tags` (below). tests/api/test_schema.py fails on any schema warning.

7. Routes: add `path(...)` to your module (api/urls_data.py, api/urls_inventory.py or
   api/urls.py), name them `api-…`, and add the rows for your routes to
   tests/access/test_access_matrix.py's API table (API_ROUTES): its resolver walk finds
   every /api/ URL and fails on one without a row.

8. Writes that change state are audited (`audit.services.record`) like the pages' are.
   Every token use is already counted by api.tokens.note_use.
"""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

from django.db.models import QuerySet
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from rest_framework import exceptions
from rest_framework.request import Request

from access.services import Access, request_access
from api.paging import CursorPage
from api.permissions import DeclaredPolicy

Q = TypeVar("Q", bound=QuerySet[Any])


def scoped(request: HttpRequest | Request, queryset: Q, prefix: str = "") -> Q:
    """The rows of hosts the caller sees (prefix: "" for Host, "host__" for a related row)."""
    return request_access(request).scope.filter(queryset, prefix)  # type: ignore[arg-type]


def raise_form_errors(form: BaseForm) -> None:
    """A Django form's errors as the API's field errors (400)."""
    if not form.is_valid():
        fields = {name: [str(m) for m in msgs] for name, msgs in form.errors.items()}
        if "__all__" in fields:
            fields["non_field_errors"] = fields.pop("__all__")
        raise exceptions.ValidationError(fields)


class ApiMixin:
    """Mixed into every API view, before the DRF class."""

    # Set by the middleware's process_view for the docs page only.
    login_redirect = False

    @classmethod
    def as_view(cls, *args: Any, **kwargs: Any) -> Any:
        view = super().as_view(*args, **kwargs)  # type: ignore[misc]
        # api.middleware answers anonymous calls with 401 JSON itself, before
        # LoginRequiredMiddleware could redirect them to the login page.
        view.login_required = False
        view.login_redirect = cls.login_redirect
        return view

    @property
    def access(self) -> Access:
        return request_access(self.request)  # type: ignore[attr-defined]

    def finalize_response(
        self, request: Request, response: Any, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        if request.method not in ("GET", "HEAD") or response.status_code != 200:
            return response
        if hasattr(response, "render") and not getattr(response, "is_rendered", True):
            response.render()
        if getattr(response, "streaming", False):
            return response
        etag = '"' + hashlib.sha256(response.content).hexdigest()[:32] + '"'
        response["ETag"] = etag
        last_modified = getattr(response, "last_modified_ts", None)
        if last_modified is not None:
            response["Last-Modified"] = http_date(last_modified)
        # The response itself, or a 304 carrying its ETag when the client's copy matches.
        conditional = get_conditional_response(
            request, etag=etag, last_modified=last_modified, response=response
        )
        return conditional if conditional is not None else response


__all__ = ["ApiMixin", "CursorPage", "DeclaredPolicy", "raise_form_errors", "scoped"]
