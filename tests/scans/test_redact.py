from __future__ import annotations

from scans.redact import REDACTED, redact_container, redact_history, redact_image


def test_container_env_keeps_names_drops_values() -> None:
    inspect = {
        "Config": {"Env": ["PATH=/usr/bin", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", "FLAG"]}
    }
    redact_container(inspect)
    env = inspect["Config"]["Env"]
    assert env == [f"PATH={REDACTED}", f"AWS_SECRET_ACCESS_KEY={REDACTED}", "FLAG"]
    meta = {m["name"]: m for m in inspect["Config"]["PostureEnvMeta"]}
    assert meta["AWS_SECRET_ACCESS_KEY"]["length"] == 21
    assert meta["AWS_SECRET_ACCESS_KEY"]["entropy"] > 3.5
    assert "wJalr" not in repr(inspect)


def test_image_env_and_history_are_redacted() -> None:
    image = {"Config": {"Env": ["TOKEN=abc"]}, "ContainerConfig": {"Env": ["TOKEN=abc"]}}
    redact_image(image)
    assert "abc" not in repr(image)
    history = redact_history(
        [
            {"CreatedBy": '/bin/sh -c #(nop)  ENV DB_PASSWORD=hunter2 MODE="a b"'},
            {"CreatedBy": "/bin/sh -c #(nop)  ENV LEGACY s3cr3t"},
            {"CreatedBy": "ENV API_KEY=xyz # buildkit"},
            {"CreatedBy": "/bin/sh -c apk add curl"},
        ]
    )
    text = repr(history)
    for secret in ("hunter2", "a b", "s3cr3t", "xyz"):
        assert secret not in text
    assert "DB_PASSWORD=" in text and "LEGACY" in text
    assert history[3]["CreatedBy"] == "/bin/sh -c apk add curl"


def test_odd_shapes_do_not_crash() -> None:
    for inspect in (
        {},
        {"Config": None},
        {"Config": {"Env": None}},
        {"Config": {"Env": [1, None]}},
    ):
        redact_container(inspect)
    assert redact_history([None, {"CreatedBy": 5}]) == [None, {"CreatedBy": 5}]  # type: ignore[list-item]
