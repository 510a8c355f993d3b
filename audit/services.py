"""Recording what happened. Callers say what and to what; who and from where come from the
request (or the source, for the command line and background work)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest

from audit.models import AuditEvent

SECRET = "(replaced)"


def client_address(request: HttpRequest) -> str | None:
    """REMOTE_ADDR: behind a proxy, the proxy sets it (gunicorn's forwarded_allow_ips)."""
    return request.META.get("REMOTE_ADDR") or None


def record(
    action: str,
    *,
    request: HttpRequest | None = None,
    actor: AbstractBaseUser | None = None,
    source: str = "web",
    target: Any = None,
    target_type: str = "",
    target_id: str = "",
    changes: Mapping[str, tuple[Any, Any] | list[Any]] | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. `target` may be a model instance (its model name, pk and str)."""
    # A request may carry no user yet (a signal sent before AuthenticationMiddleware ran).
    user = getattr(request, "user", None)
    if actor is None and user is not None and user.is_authenticated:
        actor = user
    if target is not None:
        target_type = target_type or target._meta.model_name
        target_id = target_id or str(target.pk)
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk else None,  # type: ignore[misc]
        actor_name=actor.get_username() if actor is not None else "",
        source=source,
        address=client_address(request) if request is not None else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_repr=str(target)[:300] if target is not None else "",
        changes={k: [_plain(v[0]), _plain(v[1])] for k, v in (changes or {}).items()},
        details={k: _plain(v) for k, v in (details or {}).items()},
    )


def diff(
    before: Mapping[str, Any], after: Mapping[str, Any], secret: Iterable[str] = ()
) -> dict[str, tuple[Any, Any]]:
    """{field: (before, after)} for the fields that changed; a secret field that changed is
    shown as replaced, never as its value."""
    secrets = set(secret)
    out: dict[str, tuple[Any, Any]] = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        out[key] = (SECRET, SECRET) if key in secrets else (old, new)
    return out


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    return str(value)
