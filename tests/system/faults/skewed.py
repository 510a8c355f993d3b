"""`python -m tests.system.faults.skewed SECONDS celery-args...`: Celery with the wall clock
that Posture reads (django.utils.timezone.now) off by SECONDS.

libfaketime (Debian's `faketime`) would be the real thing, but with Python 3.11 on this
glibc it breaks the worker itself: with the monotonic clock left alone, time.sleep fails
with EINVAL; with it faked too, threading.Event.wait never returns. So the offset is
injected where Posture reads the time: every product module calls `timezone.now()`
through the module, never a copy taken at import.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

from django.utils import timezone


def main() -> None:
    offset = timedelta(seconds=float(sys.argv[1]))
    real = timezone.now

    def skewed() -> datetime:
        return real() + offset

    timezone.now = skewed
    from celery.__main__ import main as celery

    sys.argv = ["celery", *sys.argv[2:]]
    celery()


if __name__ == "__main__":
    main()
