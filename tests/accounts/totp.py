"""Codes an authenticator app would show, computed the way one does (RFC 6238)."""

from __future__ import annotations

import time

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def code(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """The code for now, or for `steps_ahead` periods later: django-otp refuses a code whose
    period was already used, as a phone would only show the next one 30 s later."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    right = int(code(device))
    return f"{(right + 500_000) % 1_000_000:06d}"


def enrolled(user: object) -> TOTPDevice:
    """A confirmed authenticator, as after a finished enrollment."""
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
