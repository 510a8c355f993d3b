"""IMG-SETUID over the setuid/setgid files a deep read found in the image's layers."""

from __future__ import annotations

from rules.base import Cause, Outcome
from scans.filemodes import NEEDS_DEEP
from tests.factories import check, evidence, image


def test_special_files_fail_with_path_mode_and_owner() -> None:
    img = image()
    img.special_files = (("usr/bin/su", 0o4755, 0, 0), ("usr/bin/wall", 0o2755, 0, 5))

    result = check("IMG-SETUID", img)

    assert result.outcome is Outcome.FAIL
    assert evidence(result) == {
        "/usr/bin/su": "mode 4755, owner root:root",
        "/usr/bin/wall": "mode 2755, owner root:5",
    }


def test_many_special_files_show_the_first_and_count_the_rest() -> None:
    img = image()
    img.special_files = tuple((f"bin/{n}", 0o4755, 0, 0) for n in range(12))

    shown = evidence(check("IMG-SETUID", img))

    assert len(shown) == 10 and shown["more setuid/setgid files"] == "3"


def test_no_special_files_passes() -> None:
    img = image()
    img.special_files = ()

    assert check("IMG-SETUID", img).outcome is Outcome.PASS


def test_unread_layers_are_not_assessed_with_what_would_read_them() -> None:
    img = image()
    img.modes_reason = NEEDS_DEEP

    result = check("IMG-SETUID", img)

    assert result.outcome is Outcome.UNKNOWN and result.cause is Cause.DATA_MISSING
    assert "POSTURE_IMAGE_SCAN=deep" in result.reason
