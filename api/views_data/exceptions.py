"""Risk exceptions: list (GET /api/v1/exceptions/?status=), request one (POST, validated by
the exception page's own form, approved at once only where the page would: four eyes,
policy.approval), read one, revoke one (POST /api/v1/exceptions/{id}/revoke/). What an
account sees and may act on is policy.scoping's, as on the page; each step is audited by
policy.exceptions, as from the page."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.policy import allow
from access.roles import Perm
from api.base import ApiMixin, raise_form_errors
from api.serializers_data import RiskExceptionRequestSerializer, RiskExceptionSerializer
from policy import exceptions as services
from policy import scoping
from policy.forms import RiskExceptionForm
from policy.models import RiskException, RiskExceptionQuerySet

STATES = ("all", "active", "pending", "expiring", "expired", "revoked", "rejected")
# The form's fields, all of them strings on the page.
FORM_FIELDS = tuple(RiskExceptionForm.base_fields)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def in_state(seen: RiskExceptionQuerySet, state: str) -> RiskExceptionQuerySet:
    """The page's status filter, by the queryset's own named states."""
    now = timezone.now()
    by_state = {
        "active": lambda: seen.active(now),
        "pending": lambda: seen.pending(now),
        "expiring": lambda: seen.expiring(now),
        "expired": lambda: seen.expired(now),
        "revoked": seen.revoked,
        "rejected": seen.rejected,
    }
    return by_state[state]() if state in by_state else seen


def form_data(data: Any) -> dict[str, str]:
    """A JSON body as the form's POST data: scalars only, as a browser would send them."""
    if not isinstance(data, dict):
        raise exceptions.ValidationError(_("Send a JSON object."))
    out = {}
    for name in FORM_FIELDS:
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, dict | list):
            raise exceptions.ValidationError({name: [_("Send a single value.")]})
        out[name] = str(value)
    return out


@allow(Perm.VIEW, write=Perm.EXCEPTION_REQUEST)
@extend_schema_view(
    get=extend_schema(
        tags=["exceptions"],
        parameters=[OpenApiParameter("status", str, enum=list(STATES), default="all")],
    ),
    post=extend_schema(
        tags=["exceptions"],
        request=RiskExceptionRequestSerializer,
        responses={201: RiskExceptionSerializer},
        description="Ask for a risk exception. It applies at once when the token's role may "
        "approve and four-eyes approval is off; otherwise its state is 'pending' until an "
        "approver approves it on the exceptions page.",
    ),
)
class ExceptionList(ApiMixin, generics.ListCreateAPIView[Any]):
    serializer_class = RiskExceptionSerializer
    cursor_ordering = ("-id",)

    def get_queryset(self) -> RiskExceptionQuerySet:
        state = self.request.query_params.get("status", "all")
        seen = scoping.concerning(
            RiskException.objects.select_related("host", "requested_by", "approved_by"),
            self.access.scope,
        )
        return in_state(seen, state)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = RiskExceptionForm(form_data(request.data), scope=self.access.scope)
        raise_form_errors(form)
        exc = form.save(
            user=request.user,
            can_approve=self.access.can(Perm.EXCEPTION_APPROVE),
            request=request,
        )
        return Response(RiskExceptionSerializer(exc).data, status=status.HTTP_201_CREATED)


@allow(Perm.VIEW)
@extend_schema_view(get=extend_schema(tags=["exceptions"]))
class ExceptionDetail(ApiMixin, generics.RetrieveAPIView[Any]):
    serializer_class = RiskExceptionSerializer

    def get_queryset(self) -> RiskExceptionQuerySet:
        qs = RiskException.objects.select_related("host", "requested_by", "approved_by")
        return scoping.concerning(qs, self.access.scope)


@allow(Perm.EXCEPTION_APPROVE)
class ExceptionRevoke(ApiMixin, APIView):
    @extend_schema(
        tags=["exceptions"],
        request=None,
        responses={200: RiskExceptionSerializer},
        description="Revoke an exception: the failures it accepted count again once its "
        "hosts are rescanned (queued at once). 409 when it has expired or was revoked.",
    )
    def post(self, request: Request, pk: int) -> Response:
        # 404 outside what the account sees, 403 when it also reaches other teams' hosts.
        exc = scoping.actionable(RiskException.objects.all(), self.access.scope, pk)
        if exc.current_state == RiskException.State.EXPIRED:
            raise Conflict(_("This exception has expired already: nothing to revoke."))
        if not services.revoke(exc, request.user.get_username(), request=request):
            raise Conflict(_("This exception was revoked already."))
        exc = RiskException.objects.select_related("host", "requested_by", "approved_by").get(
            pk=exc.pk
        )
        return Response(RiskExceptionSerializer(exc).data)
