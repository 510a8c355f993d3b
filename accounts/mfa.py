"""The second factor: one TOTP authenticator per person (django-otp), enrolled by scanning a
QR code and proven by typing a code from it.

A device stays unconfirmed, and counts for nothing, until its owner types a valid code: a
QR code scanned badly must not lock its owner out at the next sign-in.
"""

from __future__ import annotations

from base64 import b32encode

import segno
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.services import record

DEVICE_NAME = "authenticator"


def confirmed_device(user: AbstractBaseUser) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).first()


def has_mfa(user: AbstractBaseUser) -> bool:
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists()


def session_verified(request: HttpRequest) -> bool:
    """The session was opened, or later confirmed, with a code (django-otp's middleware)."""
    check = getattr(request.user, "is_verified", None)
    return bool(check and check())


def pending_device(user: AbstractBaseUser) -> TOTPDevice:
    """The unconfirmed device being enrolled: the same secret on every visit of the page, so
    that reloading it does not invalidate what the phone already scanned."""
    device = TOTPDevice.objects.filter(user_id=user.pk, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def secret_text(device: TOTPDevice) -> str:
    """The key as authenticator apps take it by hand: base32, in groups of four."""
    raw = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def qr_data_uri(device: TOTPDevice) -> str:
    """The otpauth:// URL as an SVG data URI for an <img>: the CSP allows data: images and
    forbids inline style, which an inline <svg> from segno would need for its colours."""
    return str(segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2))


def verify(device: TOTPDevice, token: str) -> bool:
    """Checks a code against one device, under a row lock so that two requests racing with
    the same code cannot both pass (django-otp remembers the last step used), and counting
    a wrong code in the device's throttle (each failure doubles the wait before the next)."""
    token = "".join(token.split())
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        allowed, _ = locked.verify_is_allowed()
        ok = allowed and locked.verify_token(token)
    if ok:
        device.refresh_from_db()
    return bool(ok)


def confirm(request: HttpRequest, device: TOTPDevice, token: str) -> bool:
    """Enrolls `device` when `token` is a valid code from it; the session counts as verified
    from then on. Any other device of the person is removed: one authenticator at a time."""
    if not verify(device, token):
        return False
    with transaction.atomic():
        TOTPDevice.objects.filter(user_id=device.user_id).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        record("auth.mfa_enrolled", request=request, target=device.user)
    otp_login(request, device)
    return True


def verify_session(request: HttpRequest, device: TOTPDevice, token: str) -> bool:
    """Marks this session as verified by the second factor (a session begun before the
    device was enrolled, or without the code)."""
    if not verify(device, token):
        return False
    otp_login(request, device)
    return True


def remove(user: AbstractBaseUser) -> int:
    """Takes every authenticator away (a lost phone): the person signs in with the password
    alone until they enroll again."""
    deleted, _ = TOTPDevice.objects.filter(user_id=user.pk).delete()
    return deleted
