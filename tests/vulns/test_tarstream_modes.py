"""setuid/setgid files from the layers' tar headers (IMG-SETUID), merged like the files are.

GIVEN `docker save` streams whose layers add setuid and setgid files, then strip the bits in
an upper layer (`chmod a-s` copies the file up), delete one (a whiteout), or empty a
directory (opaque)
WHEN the stream is read in deep mode
THEN the image's special files are those of the merged filesystem, with mode and owner, and
nothing wanted changes for the package inventory.
"""

from __future__ import annotations

import io
import json
import tarfile

from tests.vulns.test_tarstream import read_image, save_stream, tar_bytes
from vulns.tarstream import MAX_SPECIAL


def layer(*members: tuple[str, int, int, int]) -> bytes:
    """A layer tar of (name, mode, uid, gid) files; a mode of -1 is a directory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode, uid, gid in members:
            info = tarfile.TarInfo(name)
            info.uid, info.gid = uid, gid
            if mode < 0:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.mode, info.size = mode, 4
                tar.addfile(info, io.BytesIO(b"\x7fELF"))
    return buffer.getvalue()


BASE = layer(
    ("usr/bin/su", 0o4755, 0, 0),
    ("usr/bin/passwd", 0o4755, 0, 0),
    ("usr/bin/wall", 0o2755, 0, 5),
    ("usr/bin/ls", 0o755, 0, 0),
    ("opt/tool/helper", 0o4750, 0, 1000),
    ("var/mail", -1, 0, 8),
)


def test_setuid_and_setgid_files_are_recorded_with_mode_and_owner() -> None:
    image = read_image(save_stream([BASE]))

    assert image.special == {
        "usr/bin/su": (0o4755, 0, 0),
        "usr/bin/passwd": (0o4755, 0, 0),
        "usr/bin/wall": (0o2755, 0, 5),
        "opt/tool/helper": (0o4750, 0, 1000),
    }


def test_an_upper_layer_hides_what_it_strips_deletes_or_empties() -> None:
    upper = layer(
        ("usr/bin/su", 0o755, 0, 0),  # RUN chmod a-s /usr/bin/su: copied up without bits
        ("usr/bin/.wh.passwd", 0o644, 0, 0),  # RUN rm /usr/bin/passwd
        ("opt/tool/.wh..wh..opq", 0o644, 0, 0),  # the directory replaced whole
    )

    image = read_image(save_stream([BASE, upper]))

    assert image.special == {"usr/bin/wall": (0o2755, 0, 5)}


def test_the_layer_order_is_the_manifests_not_the_streams() -> None:
    # The stripped copy comes first in the stream, but the manifest puts it on top.
    stripped = layer(("usr/bin/su", 0o755, 0, 0))
    top, bottom = f"{1:064x}/layer.tar", f"{2:064x}/layer.tar"
    manifest = json.dumps([{"Config": "c.json", "Layers": [bottom, top]}]).encode()
    data = tar_bytes([(top, stripped), (bottom, BASE), ("manifest.json", manifest)])

    special = read_image(data).special

    assert "usr/bin/su" not in special and "usr/bin/passwd" in special


def test_a_setuid_file_added_above_counts() -> None:
    upper = layer(("usr/local/bin/escalate", 0o6755, 0, 0))

    image = read_image(save_stream([layer(("usr/bin/ls", 0o755, 0, 0)), upper]))

    assert image.special == {"usr/local/bin/escalate": (0o6755, 0, 0)}


def test_a_hostile_layer_cannot_grow_the_record_past_its_cap() -> None:
    many = layer(*((f"x/{n}", 0o4755, 0, 0) for n in range(MAX_SPECIAL + 50)))

    assert len(read_image(save_stream([many])).special) == MAX_SPECIAL


def test_an_image_without_special_files_has_none() -> None:
    assert read_image(save_stream([layer(("usr/bin/ls", 0o755, 0, 0))])).special == {}
