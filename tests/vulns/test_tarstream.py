"""Untrusted tar streams: container archive bodies and `docker save` streams, read once.

Throughput (deep mode's ≥ 80 MB/s floor) is measured by hand with a 1 GiB generated image:
see the report of the commit that added vulns/tarstream.py.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import tarfile
from collections.abc import Iterable, Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import FUZZ
from vulns.tarstream import (
    ArchiveError,
    TarLimits,
    iter_stream,
    normalise,
    read_image_archive,
    read_tar,
    resolve_path,
)

Entry = tuple[str, bytes | None] | tuple[str, bytes | None, bytes, str]


def everything(path: str) -> bool:
    return True


def tar_bytes(entries: Iterable[Entry], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """A tar of (name, data) files, (name, None) directories, (name, None, type, target) links."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for entry in entries:
            name, data = entry[0], entry[1]
            info = tarfile.TarInfo(name)
            if len(entry) == 4:
                info.type = entry[2]  # type: ignore[misc]
                info.linkname = entry[3]  # type: ignore[misc]
                tar.addfile(info)
            elif data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def save_stream(
    layers: list[bytes],
    *,
    manifest_first: bool = False,
    compress: bool = False,
    extra: Mapping[str, bytes] | None = None,
) -> bytes:
    """A legacy `docker save` stream: <n>/layer.tar each, manifest.json first or last."""
    names = [f"{index:064x}/layer.tar" for index in range(len(layers))]
    manifest = json.dumps([{"Config": "c.json", "RepoTags": ["t:1"], "Layers": names}]).encode()
    entries: list[Entry] = [
        (name, gzip.compress(layer) if compress else layer)
        for name, layer in zip(names, layers, strict=True)
    ]
    entries.append(("c.json", b'{"rootfs": {}}'))
    entries.extend((extra or {}).items())
    if manifest_first:
        entries.insert(0, ("manifest.json", manifest))
    else:
        entries.append(("manifest.json", manifest))
    return tar_bytes(entries)


def read_image(data: bytes, limits: TarLimits | None = None, wanted=everything):
    return read_image_archive(io.BytesIO(data), wanted, limits or TarLimits())


# -- Names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "prefix", "expected"),
    [
        ("status", "var/lib/dpkg/", "var/lib/dpkg/status"),
        ("./etc/os-release", "", "etc/os-release"),
        ("/etc/os-release", "", "etc/os-release"),
        ("status.d//libc6", "/var/lib/dpkg", "var/lib/dpkg/status.d/libc6"),
        ("../../etc/shadow", "", None),
        ("a/../../etc/shadow", "var/", None),
        ("./", "", None),
    ],
)
def test_names_are_normalised_and_escapes_refused(name, prefix, expected):
    assert normalise(name, prefix) == expected


def test_read_tar_keys_are_image_paths_under_the_prefix():
    body = tar_bytes([("status", b"Package: x\n"), ("../../../etc/passwd", b"root")])

    files = read_tar(io.BytesIO(body), everything, TarLimits(), prefix="var/lib/dpkg/")

    assert dict(files) == {"var/lib/dpkg/status": b"Package: x\n"}
    assert 0 < files.bytes_read <= len(body)  # the zero padding after the end is left


def test_a_folder_archive_keeps_only_wanted_files_and_skips_devices():
    fifo = tarfile.FIFOTYPE
    body = tar_bytes(
        [
            ("status.d", None),
            ("status.d/libc6", b"Package: libc6\n"),
            ("status.d/libc6.md5sums", b"x"),
            ("status.d/pipe", None, fifo, ""),
        ]
    )

    files = read_tar(
        io.BytesIO(body), lambda p: not p.endswith("md5sums"), TarLimits(), "var/lib/dpkg/"
    )

    assert dict(files) == {"var/lib/dpkg/status.d/libc6": b"Package: libc6\n"}


# -- Links ------------------------------------------------------------------------------------


def test_os_release_link_resolves_through_the_recorded_links():
    body = tar_bytes(
        [
            ("etc/os-release", None, tarfile.SYMTYPE, "../usr/lib/os-release"),
            ("usr/lib/os-release", b"ID=debian\n"),
        ]
    )

    files = read_tar(io.BytesIO(body), everything)

    assert files.links == {"etc/os-release": "../usr/lib/os-release"}
    assert resolve_path("etc/os-release", files.links) == "usr/lib/os-release"


def test_hardlinks_are_recorded_as_absolute_links():
    body = tar_bytes(
        [
            ("usr/lib/os-release", b"ID=x\n"),
            ("etc/os-release", None, tarfile.LNKTYPE, "usr/lib/os-release"),
        ]
    )

    files = read_tar(io.BytesIO(body), everything)

    assert files.links["etc/os-release"] == "/usr/lib/os-release"
    assert resolve_path("etc/os-release", files.links) == "usr/lib/os-release"


def test_links_resolve_in_directory_components_and_absolute_targets():
    links = {"lib": "usr/lib", "usr/lib/os-release": "/etc/real", "etc": "/private/etc"}

    assert resolve_path("lib/apk/db/installed", links) == "usr/lib/apk/db/installed"
    assert resolve_path("lib/os-release", links) == "private/etc/real"


def test_symlink_loops_and_long_chains_give_up():
    assert resolve_path("etc/os-release", {"etc/os-release": "a", "etc/a": "os-release"}) is None
    chain = {f"l{i}": f"l{i + 1}" for i in range(100)}
    assert resolve_path("l0", chain) is None


def test_dotdot_in_a_link_stops_at_the_root():
    assert resolve_path("etc/os-release", {"etc/os-release": "../../../../x"}) == "x"


# -- Caps -------------------------------------------------------------------------------------


def test_entry_cap():
    body = tar_bytes([(f"f{i}", b"") for i in range(20)])

    with pytest.raises(ArchiveError, match="more than 10 entries"):
        read_tar(io.BytesIO(body), everything, TarLimits(max_entries=10))


def test_stream_byte_cap():
    body = tar_bytes([("big", b"x" * 100_000)])

    with pytest.raises(ArchiveError, match="exceeds the 50000 bytes budget"):
        read_tar(io.BytesIO(body), lambda p: False, TarLimits(max_stream_bytes=50_000))


def test_a_wanted_file_over_its_cap_is_skipped_with_the_reason():
    body = tar_bytes([("var/lib/dpkg/status", b"x" * 5000), ("etc/os-release", b"ID=x")])

    files = read_tar(io.BytesIO(body), everything, TarLimits(max_file_bytes=1000))

    assert dict(files) == {"etc/os-release": b"ID=x"}
    assert "5000 bytes, over the 1000 bytes cap" in files.skipped["var/lib/dpkg/status"]


def test_wanted_files_together_are_capped():
    body = tar_bytes([(f"f{i}", b"x" * 600) for i in range(4)])

    with pytest.raises(ArchiveError, match="wanted files exceed"):
        read_tar(io.BytesIO(body), everything, TarLimits(max_total_bytes=2000))


def test_a_huge_pax_header_is_refused_before_it_is_read():
    info = tarfile.TarInfo("x")
    info.type = tarfile.XHDTYPE
    info.size = 4 << 30  # claims 4 GiB of extended header
    body = info.tobuf(tarfile.USTAR_FORMAT) + b"\0" * 1024

    with pytest.raises(ArchiveError, match="header extension"):
        read_tar(io.BytesIO(body), everything)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not a tar at all" * 100,
        b"\x1f\x8b\x08\x00garbage-gzip" * 10,
        tar_bytes([("a", b"x" * 5000)])[:2000],  # cut inside a member
    ],
    ids=["empty", "text", "bad-gzip", "truncated"],
)
def test_garbage_is_an_archive_error(body):
    with pytest.raises(ArchiveError):
        read_tar(io.BytesIO(body), everything)


@FUZZ
@given(st.binary(max_size=4096))
def test_any_bytes_give_files_or_an_archive_error(data):
    with contextlib.suppress(ArchiveError):
        read_tar(io.BytesIO(data), everything, TarLimits(max_entries=1000))
    with contextlib.suppress(ArchiveError):
        read_image(data, TarLimits(max_entries=1000))


# -- Image streams ----------------------------------------------------------------------------


def test_layers_merge_in_manifest_order_whatever_the_stream_order():
    base = tar_bytes([("etc/os-release", b"ID=debian\nVERSION_ID=11\n")])
    upper = tar_bytes([("etc/os-release", b"ID=debian\nVERSION_ID=12\n")])

    for manifest_first in (True, False):
        image = read_image(save_stream([base, upper], manifest_first=manifest_first))
        assert image.files == {"etc/os-release": b"ID=debian\nVERSION_ID=12\n"}
        assert len(image.layers) == 2


def test_gzip_layers_are_read_as_streams():
    layer = tar_bytes([("lib/apk/db/installed", b"P:musl\nV:1.2.4-r1\n")])

    image = read_image(save_stream([layer], compress=True))

    assert image.files == {"lib/apk/db/installed": b"P:musl\nV:1.2.4-r1\n"}
    assert image.bytes_streamed > 0


def test_whiteouts_and_opaque_directories_apply_in_layer_order():
    base = tar_bytes(
        [
            ("app/node_modules/a/package.json", b"a"),
            ("app/node_modules/b/package.json", b"b"),
            ("opt/keep", b"k"),
            ("opt/gone", b"g"),
            ("srv/dir/x", b"x"),
        ]
    )
    middle = tar_bytes(
        [
            ("app/node_modules/.wh..wh..opq", b""),
            ("app/node_modules/c/package.json", b"c"),  # the opaque layer's own file stays
            ("opt/.wh.gone", b""),
            ("srv/.wh.dir", b""),
        ]
    )
    top = tar_bytes([("opt/gone", b"back")])

    image = read_image(save_stream([base, middle, top]))

    assert image.files == {
        "app/node_modules/c/package.json": b"c",
        "opt/keep": b"k",
        "opt/gone": b"back",
    }


def test_a_whiteout_in_a_lower_layer_does_not_hide_an_upper_file():
    lower = tar_bytes([("opt/.wh.f", b"")])
    upper = tar_bytes([("opt/f", b"new")])

    assert read_image(save_stream([lower, upper])).files == {"opt/f": b"new"}


def test_an_upper_link_replaces_a_lower_file_and_directory():
    lower = tar_bytes([("etc/os-release", b"ID=old"), ("usr/lib/os-release", b"ID=debian")])
    upper = tar_bytes([("etc/os-release", None, tarfile.SYMTYPE, "../usr/lib/os-release")])

    image = read_image(save_stream([lower, upper]))

    assert "etc/os-release" not in image.files
    assert resolve_path("etc/os-release", image.links) == "usr/lib/os-release"


def test_oci_layout_is_read_from_index_json():
    layer = gzip.compress(tar_bytes([("etc/os-release", b"ID=alpine\n")]))
    digest = "a" * 64
    manifest = json.dumps({"layers": [{"digest": f"sha256:{digest}"}]}).encode()
    index = json.dumps({"manifests": [{"digest": "sha256:" + "b" * 64}]}).encode()
    body = tar_bytes(
        [
            ("blobs", None),
            (f"blobs/sha256/{digest}", layer),
            ("blobs/sha256/" + "b" * 64, manifest),
            ("index.json", index),
            ("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'),
        ]
    )

    image = read_image(body)

    assert image.files == {"etc/os-release": b"ID=alpine\n"}
    assert image.layers == [f"blobs/sha256/{digest}"]


def test_a_layer_linked_to_an_earlier_copy_is_found():
    layer = tar_bytes([("etc/os-release", b"ID=debian")])
    names = ["0" * 64 + "/layer.tar", "1" * 64 + "/layer.tar"]
    manifest = json.dumps([{"Layers": names}]).encode()
    body = tar_bytes(
        [
            (names[0], layer),
            (names[1], None, tarfile.SYMTYPE, "../" + names[0]),
            ("manifest.json", manifest),
        ]
    )

    assert read_image(body).files == {"etc/os-release": b"ID=debian"}


def test_a_layer_the_manifest_names_but_the_stream_lacks_is_an_error():
    names = ["0" * 64 + "/layer.tar"]
    body = tar_bytes([("manifest.json", json.dumps([{"Layers": names}]).encode())])

    with pytest.raises(ArchiveError, match="not in the stream"):
        read_image(body)


@pytest.mark.parametrize(
    ("manifest", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
        (b'{"Layers": []}', "does not describe an image"),
        (b'[{"Layers": [1, 2]}]', "no list of layers"),
    ],
)
def test_hostile_manifests(manifest, reason):
    body = tar_bytes([("manifest.json", manifest)])

    with pytest.raises(ArchiveError, match=reason):
        read_image(body)


def test_no_manifest_is_not_an_image_stream():
    with pytest.raises(ArchiveError, match="not a `docker save` stream"):
        read_image(tar_bytes([("x", b"y")]))


def test_zstd_layers_are_refused_by_name():
    body = tar_bytes([("blobs/sha256/" + "c" * 64, b"\x28\xb5\x2f\xfd" + b"\0" * 600)])

    with pytest.raises(ArchiveError, match="zstd"):
        read_image(body)


def test_a_gzip_bomb_layer_stops_at_the_expansion_budget():
    # One member that claims 10 GiB, in a layer a few KiB on the wire: refused from its
    # header, before anything is decompressed.
    info = tarfile.TarInfo("opt/zeros")
    info.size = 10 << 30
    layer = gzip.compress(info.tobuf(tarfile.PAX_FORMAT) + b"\0" * (1 << 20))

    with pytest.raises(ArchiveError, match="expand beyond"):
        read_image(save_stream([layer]), TarLimits(max_stream_bytes=1 << 30))


def test_tars_inside_layers_are_not_opened():
    inner = tar_bytes([("etc/os-release", b"ID=evil")])
    nested = tar_bytes([("opt/inner.tar", inner), ("etc/os-release", b"ID=debian")])

    image = read_image(save_stream([nested]))

    assert image.files["etc/os-release"] == b"ID=debian"
    assert image.files["opt/inner.tar"] == inner  # a file like any other, never walked


def test_entries_are_counted_across_layers():
    layers = [tar_bytes([(f"l{n}/f{i}", b"") for i in range(6)]) for n in range(3)]

    with pytest.raises(ArchiveError, match="more than 15 entries"):
        read_image(save_stream(layers), TarLimits(max_entries=15))


def test_image_stream_budget_names_the_budget():
    layer = tar_bytes([("etc/os-release", b"ID=x")])
    body = save_stream([layer], extra={"blob": b"x" * 200_000}, manifest_first=True)

    with pytest.raises(ArchiveError, match="image stream exceeds the 100000 bytes budget"):
        read_image(body, TarLimits(max_stream_bytes=100_000))


def test_only_wanted_files_are_kept():
    layer = tar_bytes([("etc/os-release", b"ID=x"), ("opt/blob", b"y" * 10_000)])

    image = read_image(save_stream([layer]), wanted=lambda p: p == "etc/os-release")

    assert image.files == {"etc/os-release": b"ID=x"}


def test_iter_stream_reads_chunks_as_a_file():
    layer = tar_bytes([("etc/os-release", b"ID=x")])
    body = save_stream([layer])
    chunks = [body[i : i + 777] for i in range(0, len(body), 777)]

    image = read_image_archive(iter_stream(chunks), everything, TarLimits())

    assert image.files == {"etc/os-release": b"ID=x"}


_VALID = save_stream(
    [tar_bytes([("etc/os-release", b"ID=debian\n"), ("opt/x", b"y" * 3000)])], compress=True
)


@FUZZ
@given(
    st.integers(0, len(_VALID) - 1),
    st.binary(min_size=1, max_size=16),
    st.integers(0, len(_VALID)),
)
def test_damaged_image_streams_give_files_or_an_archive_error(position, patch, cut):
    data = (_VALID[:position] + patch + _VALID[position + len(patch) :])[:cut]

    with contextlib.suppress(ArchiveError):
        read_image(data, TarLimits(max_entries=1000))


class _TransportError(Exception):
    pass


class _FailingStream(io.RawIOBase):
    """A body whose transport gives up halfway (a deadline, a dropped connection)."""

    def __init__(self, data: bytes, fail_at: int) -> None:
        self._data = io.BytesIO(data)
        self._fail_at = fail_at

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._data.tell() >= self._fail_at:
            raise _TransportError("deadline")
        return self._data.read(min(size, self._fail_at - self._data.tell()))


def test_a_transport_error_passes_through_unchanged():
    # The caller classifies its own transport's errors; only the archive's are ArchiveErrors.
    body = save_stream([tar_bytes([("opt/blob", b"x" * 100_000)])])

    with pytest.raises(_TransportError):
        read_image_archive(_FailingStream(body, 50_000), everything, TarLimits())
