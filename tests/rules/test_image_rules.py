"""Image rules over GET /images/{id}/json and GET /images/{id}/history."""

from __future__ import annotations

import pytest

from rules.base import Outcome
from tests.factories import DROP, check, evidence, image, outcome

FAIL, PASS, UNKNOWN, NA = Outcome.FAIL, Outcome.PASS, Outcome.UNKNOWN, Outcome.NOT_APPLICABLE


# IMG-USER


@pytest.mark.parametrize("user", ["", "root", "0:0"])
def test_root_image_fails(user):
    result = check("IMG-USER", image({"Config.User": user}))
    assert result.outcome is FAIL
    assert evidence(result) == {"Config.User": f'"{user}"'}


@pytest.mark.parametrize("user", ["nobody", "10001:10001"])
def test_non_root_image_passes(user):
    assert outcome("IMG-USER", image({"Config.User": user})) is PASS


@pytest.mark.parametrize("changes", [{"Config": DROP}, {"Config.User": DROP}, {"Config": None}])
def test_image_user_unreadable_is_unknown(changes):
    assert outcome("IMG-USER", image(changes)) is UNKNOWN


# IMG-HEALTHCHECK


@pytest.mark.parametrize("check_value", [DROP, None, {"Test": ["NONE"]}, {"Test": []}])
def test_missing_or_disabled_healthcheck_fails(check_value):
    result = check("IMG-HEALTHCHECK", image({"Config.Healthcheck": check_value}))
    assert result.outcome is FAIL
    assert "Config.Healthcheck" in evidence(result)


def test_healthcheck_passes():
    probe = {"Test": ["CMD-SHELL", "wget -qO- http://localhost/health || exit 1"]}
    assert outcome("IMG-HEALTHCHECK", image({"Config.Healthcheck": probe})) is PASS


@pytest.mark.parametrize("config", [DROP, None, "x"])
def test_healthcheck_without_config_is_unknown(config):
    assert outcome("IMG-HEALTHCHECK", image({"Config": config})) is UNKNOWN


# IMG-ADD

BASE_ROOTFS = {"CreatedBy": "/bin/sh -c #(nop) ADD file:9a4f77dfaba7fd2aa78186e4ef0e7486 in / "}
BUILDKIT_ROOTFS = {"CreatedBy": "ADD alpine-minirootfs-3.20.3-x86_64.tar.gz / # buildkit"}
CMD = {"CreatedBy": '/bin/sh -c #(nop)  CMD ["sh"]'}


def layers(*created_by: str) -> list[dict[str, object]]:
    return [{"CreatedBy": c} for c in created_by]


@pytest.mark.parametrize(
    "history",
    [
        [*layers("ADD app.tar.gz /srv/ # buildkit"), CMD, BASE_ROOTFS],
        [*layers("/bin/sh -c #(nop) ADD file:abc in /app/ "), BASE_ROOTFS],
        [*layers("ADD https://example.com/tool.tgz /opt/ # buildkit"), BUILDKIT_ROOTFS],
        [BASE_ROOTFS, CMD, BASE_ROOTFS],  # a rootfs ADD that is not the bottom layer
    ],
)
def test_add_in_history_fails(history):
    result = check("IMG-ADD", image(history=history))
    assert result.outcome is FAIL
    assert "history[].CreatedBy" in evidence(result)


def test_add_evidence_hides_url_credentials():
    history = layers("ADD https://user:s3cret@example.com/a.tgz /opt/ # buildkit")
    shown = evidence(check("IMG-ADD", image(history=history)))["history[].CreatedBy"]
    assert "s3cret" not in shown
    assert "//<redacted>@example.com" in shown


@pytest.mark.parametrize(
    "history",
    [
        [CMD, BASE_ROOTFS],  # the base image's rootfs import is not this Dockerfile's choice
        [CMD, BUILDKIT_ROOTFS],
        [*layers("/bin/sh -c echo ADD me > /x", "COPY app /app # buildkit"), BASE_ROOTFS],
        layers(""),  # the real imported test image
    ],
)
def test_no_add_passes(history):
    assert outcome("IMG-ADD", image(history=history)) is PASS


@pytest.mark.parametrize("history", [None, [], "ADD x /", ["ADD x /"]])
def test_history_unreadable_is_unknown(history):
    assert outcome("IMG-ADD", image(history=history)) is UNKNOWN


# IMG-LATEST


@pytest.mark.parametrize("tags", [["nginx:latest"], ["localhost:5000/app:latest"]])
def test_latest_only_fails(tags):
    result = check("IMG-LATEST", image({"RepoTags": tags}))
    assert result.outcome is FAIL
    assert "RepoTags" in evidence(result)


@pytest.mark.parametrize("tags", [["nginx:1.27.2"], ["nginx:1.27.2", "nginx:latest"]])
def test_versioned_tag_passes(tags):
    assert outcome("IMG-LATEST", image({"RepoTags": tags})) is PASS


@pytest.mark.parametrize("tags", [[], None, ["<none>:<none>"]])
def test_untagged_image_is_not_applicable(tags):
    assert outcome("IMG-LATEST", image({"RepoTags": tags})) is NA


@pytest.mark.parametrize("tags", [DROP, "nginx:latest"])
def test_tags_unreadable_is_unknown(tags):
    assert outcome("IMG-LATEST", image({"RepoTags": tags})) is UNKNOWN


# IMG-DIGEST


def test_image_without_digest_fails():
    # The real test image was loaded with `docker import`, so it has no registry digest.
    result = check("IMG-DIGEST", image())
    assert result.outcome is FAIL
    assert evidence(result) == {"RepoDigests": "[]"}


def test_image_with_digest_passes():
    digest = "nginx@sha256:" + "a" * 64
    assert outcome("IMG-DIGEST", image({"RepoDigests": [digest]})) is PASS


@pytest.mark.parametrize("digests", [DROP, "nginx@sha256:abc"])
def test_digests_unreadable_is_unknown(digests):
    assert outcome("IMG-DIGEST", image({"RepoDigests": digests})) is UNKNOWN
