"""Collection over hostile answers: facts, or a classified ScanError, never a crash.

The daemon is a stub that hands recorded bodies, one of them damaged, to the real parser
(DockerAPI.get_json), so every body goes the way a transport's would.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from findings.store import digest
from rules import evaluate
from rules.base import Outcome
from scans.collect import collect
from scans.transports import Deadline, DockerAPI, ErrorClass, NotFound, ScanError
from scans.transports.base import SocketTracker
from tests.scans import fake
from tests.strategies import FUZZ, HOSTILE_STRINGS, crashed, damaged, json_values

CAP = 256 * 1024
PATHS = sorted(fake.responses())
# Every field name the recorded answers use, so odd values land where rules look.
FIELDS = sorted(
    {k for value in fake.responses().values() if isinstance(value, dict) for k in value}
    | {"RepoTags", "RepoDigests", "Names", "CreatedBy", "Config", "HostConfig"}
)


class _NoPool:
    def close(self) -> None:
        pass


class StubAPI(DockerAPI):
    """A DockerAPI whose bytes come from a dict instead of a socket; parsing is real."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        super().__init__(
            _NoPool(),  # type: ignore[arg-type]
            SocketTracker(),
            Deadline(60),
            connect_timeout=1,
            read_timeout=1,
            max_bytes=CAP,
            workers=2,
        )
        self.bodies = bodies

    def get_raw(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        versioned: bool = True,
        max_bytes: int | None = None,
    ) -> bytes:
        if path not in self.bodies:
            raise NotFound(path)
        body = self.bodies[path]
        if len(body) > (max_bytes or self.max_bytes):  # as _read_capped does on the wire
            raise ScanError(ErrorClass.MALFORMED, f"response exceeds the {CAP}-byte cap")
        return body


def encode(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()  # /_ping


def bodies(**changes: Any) -> dict[str, bytes]:
    return {path: encode(value) for path, value in fake.responses(**changes).items()}


def collect_or_error(answers: dict[str, bytes]) -> Any:
    with StubAPI(answers) as api:
        try:
            return collect(api)
        except ScanError as exc:
            # NotFound is a ScanError too: a 404 outside an inspect is malformed.
            assert isinstance(exc.error_class, ErrorClass)
            return exc


def assert_evaluable(facts: Any) -> None:
    for container in facts.containers:
        digest(container.inspect)
    for image in facts.images:
        digest([image.inspect, image.history])
    results = evaluate(facts)
    for ev in results:
        assert isinstance(ev.outcome, Outcome)
        assert isinstance(ev.subject_name, str)
    assert crashed(results) == []


@FUZZ
@given(path=st.sampled_from(PATHS), data=st.data())
def test_one_damaged_answer_is_facts_or_a_classified_error(path: str, data: st.DataObject) -> None:
    answers = bodies()
    if data.draw(st.booleans(), label="404"):
        del answers[path]  # a 404 where a daemon never gives one
    else:
        answers[path] = data.draw(damaged(fake.responses()[path]), label="body")
    result = collect_or_error(answers)
    if answers.get(path) == bodies()[path]:
        assert not isinstance(result, ScanError), result
    if not isinstance(result, ScanError):
        assert_evaluable(result)


@FUZZ
@given(
    path=st.sampled_from(PATHS),
    changes=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4),
)
def test_odd_fields_in_real_places_are_facts_or_a_classified_error(
    path: str, changes: dict[str, Any]
) -> None:
    # Same keys as a real answer, values of any type: what a buggy or hostile daemon sends.
    answers = bodies()
    value = fake.responses()[path]
    if isinstance(value, dict):
        value = {**value, **changes}
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        value = [{**value[0], **changes}]
    answers[path] = encode(value)
    result = collect_or_error(answers)
    if not isinstance(result, ScanError):
        assert_evaluable(result)


@FUZZ
@given(name=st.sampled_from(HOSTILE_STRINGS) | st.text(max_size=300), labels=json_values)
def test_hostile_names_and_labels_are_collected_as_they_are(name: str, labels: Any) -> None:
    answers = bodies(name="/" + name)
    inspect = fake.responses(name="/" + name)[f"/containers/{fake.CID}/json"]
    inspect["Config"]["Labels"] = labels
    answers[f"/containers/{fake.CID}/json"] = json.dumps(inspect).encode()
    facts = collect_or_error(answers)
    if isinstance(facts, ScanError):
        # Only a NUL-free, surrogate-free name can be refused: and such text is not drawn.
        raise AssertionError(facts)
    assert (
        facts.containers[0].name == ("/" + name).replace("\x00", "\ufffd").lstrip("/") or not name
    )
    assert "hunter2" not in repr(facts)
    assert_evaluable(facts)
