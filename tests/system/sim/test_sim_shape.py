"""The simulator's documents keep a real daemon's shape (sim_data is recorded, not guessed).

Records the same samples afresh from the lab dockerd and compares, document by document,
the key structure (keys, and the JSON kind of each value) of what the simulator serves.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

import docker
import pytest

from lab.daemon import LabDaemon
from lab.sim_engine import SimEngine, load_recording, record

pytestmark = pytest.mark.docker


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        shapes = {json.dumps(shape(item), sort_keys=True) for item in value}
        return ["list", *sorted(shapes)]
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    return "number" if isinstance(value, int | float) else "str"


def get(url: str, path: str) -> Any:
    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(url.removeprefix("unix://"))

    conn = Conn("docker", timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, (path, response.status, body[:200])
        return body.decode() if path == "/_ping" else json.loads(body)
    finally:
        conn.close()


def test_simulated_documents_have_the_real_daemons_shape(
    sim: SimEngine,
    urls: dict[str, str],
    lab_daemon: LabDaemon,
    lab_client: docker.APIClient,
    lab_samples: dict[str, str],
) -> None:
    fresh = record(lab_client)
    url, v = urls["healthy"], "/v1.41"
    assert get(url, "/_ping") == "OK"
    assert shape(get(url, "/version")) == shape(fresh["version"])
    assert shape(get(url, f"{v}/info")) == shape(fresh["info"])
    assert shape(get(url, f"{v}/networks")) == shape(fresh["networks"])

    # Simulated containers cycle through the samples; "cap-add-0000" comes from lab-cap-add.
    real = {item["inspect"]["Name"].removeprefix("/lab-"): item for item in fresh["containers"]}
    listing = get(url, f"{v}/containers/json?all=1")
    assert listing, "the simulated host lists no containers"
    compared = set()
    for entry in listing:
        sample = entry["Names"][0].lstrip("/").rsplit("-", 1)[0]
        if sample in compared:
            continue
        compared.add(sample)
        inspect = get(url, f"{v}/containers/{entry['Id']}/json")
        assert shape(entry) == shape(real[sample]["list"]), sample
        assert shape(inspect) == shape(real[sample]["inspect"]), sample
    assert compared <= set(real) and len(compared) == min(len(real), len(listing))

    # Simulated image k comes from recorded image k modulo their number. The lab dockerd
    # holds only the imported busybox image (building the recorded app image there would
    # change the shared daemon), so the app image is compared one level deep: the same
    # daemon gives every image the same top-level keys.
    recorded = load_recording()["images"]
    fresh_images = {tag: item for item in fresh["images"] for tag in item["inspect"]["RepoTags"]}
    for k, entry in enumerate(get(url, f"{v}/images/json")):
        origin = recorded[k % len(recorded)]["inspect"]["RepoTags"][0]
        docs = {
            "list": entry,
            "inspect": get(url, f"{v}/images/{entry['Id']}/json"),
            "history": get(url, f"{v}/images/{entry['Id']}/history"),
        }
        if origin in fresh_images:
            for what, doc in docs.items():
                assert shape(doc) == shape(fresh_images[origin][what]), (origin, what)
        else:
            real_image = next(iter(fresh_images.values()))
            for what in ("list", "inspect"):
                assert sorted(docs[what]) == sorted(real_image[what]), (origin, what)
            assert {key for layer in docs["history"] for key in layer} == set(
                real_image["history"][0]
            )
