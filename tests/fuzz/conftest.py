"""Hypothesis settings for the fuzz tests: deterministic and bounded, so CI is repeatable.

The profile is registered, not loaded: loading it would change every other Hypothesis test
of the session. Each fuzz test takes it with `@FUZZ` (tests/fuzz/strategies.py).
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "posture-fuzz",
    max_examples=100,
    deadline=None,
    # Same examples on every run: a CI failure reproduces locally with no database of seeds.
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
