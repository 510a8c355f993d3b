"""The transports' JSON parser is fail-closed: any body is a value or a classified error.

A value that leaves the parser is safe for everything downstream: shallow enough that
json.dumps in storage cannot overflow the stack, and free of strings that neither the
database nor the page encoder can take.
"""

from __future__ import annotations

import json
import threading
import tracemalloc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from findings.store import digest
from scans.transports import ErrorClass, ScanError
from scans.transports.base import MAX_DEPTH, parse_json
from tests.strategies import FUZZ, damaged, json_values, nested


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def parse_or_error(body: bytes) -> Any:
    try:
        return parse_json(body, "/info")
    except ScanError as exc:
        assert exc.error_class is ErrorClass.MALFORMED
        assert exc.detail.startswith("/info")
        return exc


def assert_safe(value: Any) -> None:
    assert depth(value) <= MAX_DEPTH
    for text in strings(value):
        text.encode("utf-8")  # no lone surrogate
        assert "\x00" not in text
    digest(value)  # what storage does first with every inspect


@FUZZ
@given(st.binary(max_size=2000))
def test_any_bytes_are_a_value_or_malformed(body: bytes) -> None:
    value = parse_or_error(body)
    if not isinstance(value, ScanError):
        assert_safe(value)


@FUZZ
@given(json_values.flatmap(damaged))
def test_damaged_json_is_a_safe_value_or_malformed(body: bytes) -> None:
    value = parse_or_error(body)
    if not isinstance(value, ScanError):
        assert_safe(value)


@FUZZ
@given(json_values)
def test_intact_json_round_trips(value: Any) -> None:
    # Hostile but valid data (bidi overrides, markup, 10k-char strings) is kept as it is:
    # escaping is the templates' job, not the parser's.
    if depth(value) <= MAX_DEPTH and not any("\x00" in s for s in strings(value)):
        assert parse_json(json.dumps(value).encode(), "/info") == value


def test_nesting_is_refused_at_a_fixed_depth() -> None:
    assert depth(parse_json(nested(MAX_DEPTH), "/info")) == MAX_DEPTH
    with pytest.raises(ScanError) as info:
        parse_json(nested(MAX_DEPTH + 1), "/info")
    assert info.value.error_class is ErrorClass.MALFORMED


def test_nesting_on_a_shallow_thread_cannot_overflow_storage_later() -> None:
    """GIVEN a body ~990 levels deep, parsed on a fresh (shallow) inspect thread, where
    json.loads alone would accept it
    WHEN it is parsed
    THEN it is refused as malformed, instead of crashing json.dumps in storage later, on a
    deeper stack, as an internal error."""
    outcome: list[BaseException | Any] = []

    def inspect_thread() -> None:
        try:
            outcome.append(parse_json(nested(990), "/containers/x/json"))
        except ScanError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=inspect_thread)
    thread.start()
    thread.join()
    assert isinstance(outcome[0], ScanError)
    assert outcome[0].error_class is ErrorClass.MALFORMED


def test_lone_surrogate_is_malformed_and_nul_is_replaced() -> None:
    with pytest.raises(ScanError) as info:
        parse_json(b'{"Name": "/web\\ud800"}', "/containers/x/json")
    assert info.value.error_class is ErrorClass.MALFORMED
    # A valid pair is one character, kept.
    assert parse_json(b'{"N": "\\ud83d\\udca9"}', "/x") == {"N": "\U0001f4a9"}
    # NUL is valid JSON but PostgreSQL refuses it in text and jsonb.
    assert parse_json(b'{"a\\u0000": ["b\\u0000"]}', "/x") == {"a\ufffd": ["b\ufffd"]}


@pytest.mark.parametrize("body", [b'"\\u0000"', "\ufeff{}".encode(), '{"a": 1}'.encode("utf-16")])
def test_odd_encodings(body: bytes) -> None:
    value = parse_or_error(body)
    assert value == "\ufffd" or isinstance(value, ScanError)


CAP = 256 * 1024  # the ratio, not the size, is what is measured
# json.loads turns one byte of input into at most ~25 bytes of objects (`{},` : an empty
# dict per three bytes). The byte cap therefore bounds a worker's memory per response.
BLOWUP = 32


@pytest.mark.parametrize(
    "body",
    [
        b"[" * CAP,  # deep: refused by the recursion guard before anything is built
        nested(CAP // 6),
        b"[" + b"{}," * (CAP // 3 - 1) + b"{}]",  # the worst object-per-byte ratio
        b"[" + b"[]," * (CAP // 3 - 1) + b"[]]",
        b'{"n": ' + b"9" * (CAP - 8) + b"}",  # int past the digit limit
        b'["' + b"\\ud800" * (CAP // 6 - 1) + b'"]',  # a megabyte of lone surrogates
    ],
    ids=["brackets", "nested", "dicts", "lists", "bigint", "surrogates"],
)
def test_parsing_a_capped_hostile_body_allocates_a_bounded_amount(body: bytes) -> None:
    assert len(body) <= CAP
    tracemalloc.start()
    try:
        parse_or_error(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < BLOWUP * CAP, f"{peak / CAP:.1f}x the body"
