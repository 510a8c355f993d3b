"""Events nobody's view records: signing in and out, failed sign-ins, lock-outs; and the
guards that keep auditlog's rows append-only in the application (the database's own guard
is a trigger on PostgreSQL, audit/migrations/0002)."""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry
from django.apps import apps
from django.contrib.auth import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import pre_delete, pre_save
from django.http import HttpRequest

from audit.services import record


def logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    record("auth.login", request=request, actor=user, target=user)


def logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    # user is None when the session had already expired: nobody to sign out, nothing done.
    if user is not None:
        record("auth.logout", request=request, actor=user, target=user)


def login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Django already masks the password in `credentials`; only the name tried is kept, and
    # as a detail, not as an actor: the account may not exist.
    username = str(credentials.get("username") or "")[:150]
    record(
        "auth.login_failed",
        request=request,
        source="web" if request is not None else "cli",
        target_type="user",
        target_id=username,
        details={"username": username},
    )


def locked_out(
    sender: Any,
    request: HttpRequest | None = None,
    username: str | None = None,
    ip_address: str | None = None,
    **kwargs: Any,
) -> None:
    name = str(username or "")[:150]
    record(
        "auth.locked_out",
        request=request,
        target_type="user",
        target_id=name,
        details={"username": name, "address": ip_address or ""},
    )


def refuse_change(sender: Any, instance: LogEntry, **kwargs: Any) -> None:
    if not instance._state.adding:
        raise TypeError("the audit trail is append-only")


def refuse_delete(sender: Any, instance: LogEntry, **kwargs: Any) -> None:
    raise TypeError("the audit trail is append-only")


def connect() -> None:
    user_logged_in.connect(logged_in, dispatch_uid="audit.login")
    user_logged_out.connect(logged_out, dispatch_uid="audit.logout")
    user_login_failed.connect(login_failed, dispatch_uid="audit.login_failed")
    pre_save.connect(refuse_change, sender=LogEntry, dispatch_uid="audit.logentry_save")
    pre_delete.connect(refuse_delete, sender=LogEntry, dispatch_uid="audit.logentry_delete")
    # django-axes' signal module needs its models: connected only where axes is installed.
    if apps.is_installed("axes"):
        from axes.signals import user_locked_out

        user_locked_out.connect(locked_out, dispatch_uid="audit.locked_out")
