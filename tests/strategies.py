"""Hostile inspect data: odd types, odd Unicode, odd sizes, and bodies damaged on the wire."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.scans import fake

if TYPE_CHECKING:
    from rules import Evaluation

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
# Registered, not loaded: loading it would change every other Hypothesis test of the
# session. Each fuzz test takes it with @FUZZ.
FUZZ = settings.get_profile("posture-fuzz")

# rules.evaluate() turns an exception in a rule into an unknown with this reason, so a rule
# that crashes on odd data still gives a verdict of a valid type: a fuzz test that only
# checks types cannot see it (a TypeError planted in CTR-PRIVILEGED passed them all).
CRASHED = "the rule could not read this data"


def crashed(evaluations: Iterable[Evaluation]) -> list[tuple[str, str]]:
    """(rule, subject) of every verdict that is the engine's crash fallback."""
    return [(ev.rule.id, ev.subject_name) for ev in evaluations if ev.result.reason == CRASHED]


# Strings that have broken dashboards before: markup, attribute breakouts, bidi overrides,
# NUL, template syntax, and a name far past any column width.
HOSTILE_STRINGS = [
    fake.HOSTILE,
    '"onmouseover="alert(1)',
    "'><img src=x onerror=alert(1)>",
    "</code></pre><script>alert(2)</script>",
    "\u202egnp.exe\u202c",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066\u2067\u2068\u2069\u200f",
    "nul\x00byte",
    "{{ 7|add:7 }}{% now 'Y' %}",
    "\ufeffbom",
    "\U0001f4a9" * 50,
    "x" * 10_000,
]

hostile_text = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=40),
    # Long text is drawn short and repeated: drawing 2,000 characters one by one is slow.
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=20).map(lambda s: s * 100),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=8,
)


def nested(depth: int, leaf: Any = 1) -> bytes:
    """A body `depth` containers deep, alternating lists and objects."""
    head = "".join('{"a":' if i % 2 else "[" for i in range(depth))
    tail = "".join("}" if i % 2 else "]" for i in reversed(range(depth)))
    return f"{head}{json.dumps(leaf)}{tail}".encode()


@st.composite
def damaged(draw: st.DrawFn, value: Any) -> bytes:
    """The JSON of `value`, or that JSON damaged the ways a hostile daemon can damage it."""
    text = json.dumps(value)
    how = draw(
        st.sampled_from(
            ["intact", "other", "cut", "bytes", "deep", "bigint", "surrogate", "nul", "utf16"]
        )
    )
    if how == "other":
        return json.dumps(draw(json_values)).encode()
    if how == "cut":
        return text.encode()[: draw(st.integers(0, max(0, len(text) - 1)))]
    if how == "bytes":
        return draw(st.binary(max_size=300))
    if how == "deep":
        return nested(draw(st.integers(50, 5000)), value)
    if how == "bigint":
        return f'{{"n": {"9" * draw(st.integers(4000, 20000))}}}'.encode()
    if how == "surrogate":
        return text.replace('"', '"\\udc80', 1).encode()
    if how == "nul":
        return text.replace('"', '"\\u0000', 1).encode()
    if how == "utf16":
        return text.encode("utf-16")
    return text.encode()


def wrong_type(value: Any) -> st.SearchStrategy[Any]:
    """Keep objects as objects, replace every leaf by a value of another JSON type.

    Null stays null: the Engine API uses it for "unset", which rules may rightly judge.
    """
    if isinstance(value, dict) and value:
        return st.fixed_dictionaries({k: wrong_type(v) for k, v in value.items()})
    if value is None:
        return st.none()
    choices: list[st.SearchStrategy[Any]] = []
    if not isinstance(value, str):
        choices.append(st.sampled_from(["", "true", "host", "0", *HOSTILE_STRINGS[:3]]))
    if not isinstance(value, bool):
        choices.append(st.booleans())
    if isinstance(value, bool) or not isinstance(value, int | float):
        choices.append(st.integers(-1, 2**40))
    if not isinstance(value, list):
        choices.append(st.lists(json_scalars, max_size=3))
    if not isinstance(value, dict):
        choices.append(st.dictionaries(hostile_text, json_scalars, min_size=1, max_size=2))
    return st.one_of(choices)
