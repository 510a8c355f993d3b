"""The collection script and its parser: hostile file names and contents cannot forge or
split a record, garbage is rejected, and only what was asked for is kept.

The script is run by this machine's /bin/sh on a scratch tree, the same way the SSH server
runs it (`/bin/sh -s` with the script on stdin), so quoting is proven, not assumed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rules.facts import HostAccess
from rules.host_access import COLLECTION, listed_key
from scans.hostaccess import (
    HEADER,
    Plan,
    base_plan,
    build_script,
    collect_host,
    owner_name,
    parse_output,
)
from scans.transports.base import Deadline

FORGED = "S 2f6574632f736861646f77 0 0 81a4 root root"  # stat of /etc/shadow
HOSTILE_NAMES = [
    f"evil\n{FORGED}",
    "space d name",
    "$(touch PWNED)",
    "'; touch PWNED; '",
    "-rf",
    "tab\there",
    "back\\slash",
    "ünïcode",
]


def hexed(text: str) -> str:
    return text.encode().hex()


def run_locally(plan: Plan) -> bytes:
    done = subprocess.run(
        ["/bin/sh", "-s"], input=build_script(plan).encode(), capture_output=True, timeout=20
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    certs = tmp_path / "certs.d"
    registry = certs / "registry.example:5000"
    registry.mkdir(parents=True)
    for name in HOSTILE_NAMES:
        (registry / name).write_text("x")
    (tmp_path / "daemon.json").write_text(f'{{"a": 1}}\nEND\n{FORGED}\n')
    (tmp_path / 'it\'s "quoted" $(id)').write_text("q")
    return tmp_path


def test_hostile_names_and_contents_are_data_not_records(tree: Path) -> None:
    """GIVEN file names holding newlines, shell syntax and a forged stat record, and a file
    whose content holds END and a forged record
    WHEN the script runs under sh and its answer is parsed
    THEN every entry is stat'ed under its exact name, the content comes back verbatim, no
    command ran, and nothing outside the plan appears."""
    quoted = str(tree / 'it\'s "quoted" $(id)')
    plan = Plan(
        stats=[quoted, str(tree / "absent")],
        reads=[str(tree / "daemon.json")],
        list_stats=(str(tree / "certs.d"),),
    )
    access = HostAccess()

    parsed = parse_output(run_locally(plan), plan, access)

    assert parsed.header and parsed.complete and parsed.rejected == 0
    registry = tree / "certs.d" / "registry.example:5000"
    assert {p for p in access.files if p.startswith(str(registry) + "/")} == {
        str(registry / name) for name in HOSTILE_NAMES
    }
    assert access.files[quoted].exists and access.files[quoted].kind == "file"
    assert not access.files[str(tree / "absent")].exists
    assert access.texts[str(tree / "daemon.json")] == f'{{"a": 1}}\nEND\n{FORGED}\n'
    assert access.commands[listed_key(str(registry))] == str(len(HOSTILE_NAMES))
    assert "/etc/shadow" not in access.files
    assert not list(Path.cwd().glob("PWNED")) and not list(tree.rglob("PWNED"))


def test_a_record_for_a_path_not_asked_for_is_rejected() -> None:
    plan = Plan(stats=["/etc/docker"])
    access = HostAccess()
    answer = b"\n".join([HEADER, FORGED.encode(), b"SN " + hexed("/etc/docker").encode(), b"END"])

    parsed = parse_output(answer, plan, access)

    assert parsed.complete and parsed.rejected == 1
    assert set(access.files) == {"/etc/docker"} and not access.files["/etc/docker"].exists


@pytest.mark.parametrize(
    "line",
    [
        b"S 2f6574632f646f636b6572 0 0 41ed root root extra",  # a field too many
        b"S 2f6574632f646f636b6572 0 0 41ed ro ot root",  # a name with a space
        b"S 2f6574632f646f636b657 0 0 41ed root root",  # odd hex
        b"S 2F6574632F646F636B6572 0 0 41ed root root",  # hex must be lowercase
        b"F 2f6574632f646f636b6572 zz",
        b"P 12 6g",
        b"X auditctl 0 6",
        b"\xff\xfe garbage",
        b"rm -rf /",
        b"S i2 0 0 41ed root root",  # past the plan's one path
        b"S i0 0 0 41ed root root",  # ranks start at 1
        b"S i01 0 0 41ed root root",  # one spelling per rank
        b"F i1 7b7d",  # the plan's first line is a stat, not a read
        b"LD i1",  # a listing is named in hex
    ],
)
def test_malformed_lines_are_dropped_and_counted(line: bytes) -> None:
    access = HostAccess()
    parsed = parse_output(HEADER + b"\n" + line + b"\nEND\n", Plan(stats=["/etc/docker"]), access)
    assert parsed.rejected == 1 and parsed.complete
    assert not access.files and not access.texts and not access.commands


def test_the_plan_s_own_paths_come_back_by_rank_and_listed_names_in_hex(tree: Path) -> None:
    """GIVEN a plan of stats, reads and a listing
    WHEN the script runs and its answer is parsed
    THEN the planned paths are named by rank (no hex on the host) and resolve to the right
    path and kind of record, and only the names found by listing are hex-encoded."""
    plan = Plan(
        stats=[str(tree / "absent"), str(tree / "daemon.json")],
        reads=[str(tree / "daemon.json")],
        list_stats=(str(tree / "certs.d"),),
    )
    output = run_locally(plan)
    access = HostAccess()

    parsed = parse_output(output, plan, access)

    assert parsed.complete and parsed.rejected == 0
    lines = output.split(b"\n")
    assert b"SN i1" in lines and any(line.startswith(b"S i2 ") for line in lines)
    assert any(line.startswith(b"F i3 ") for line in lines)
    assert not any(hexed(str(tree / "daemon.json")).encode() in line for line in lines)
    assert not access.files[str(tree / "absent")].exists
    assert access.files[str(tree / "daemon.json")].kind == "file"
    assert access.texts[str(tree / "daemon.json")].startswith('{"a": 1}')


def test_noise_before_the_header_is_skipped_and_a_cut_answer_is_incomplete() -> None:
    access = HostAccess()
    answer = b"Welcome to host!\nS 2f 0 0 81a4 root root\n" + HEADER + b"\n"
    answer += b"S " + hexed("/etc/docker").encode() + b" 0 0 41ed root root\n"

    parsed = parse_output(answer, Plan(stats=["/etc/docker"]), access)

    assert parsed.header and not parsed.complete and parsed.rejected == 0
    assert access.files["/etc/docker"].kind == "directory"
    assert access.files["/etc/docker"].mode == 0o755


def test_garbage_has_no_header() -> None:
    access = HostAccess()
    parsed = parse_output(b"\x00\x01binary\nEND\n", base_plan(), access)
    assert not parsed.header and not access.files


@pytest.mark.parametrize(
    ("number", "name", "shown"),
    [(0, "root", "root"), (0, "toor", "root"), (1000, "root", "1000"), (1000, "UNKNOWN", "1000")],
)
def test_only_id_zero_is_called_root(number: int, name: str, shown: str) -> None:
    assert owner_name(number, name) == shown


def test_the_base_script_runs_on_this_host_and_finds_its_unit_files() -> None:
    """A smoke test of the full first round on a real Debian host with docker.io."""
    plan = base_plan()
    access = HostAccess()
    parsed = parse_output(run_locally(plan), plan, access)
    assert parsed.complete and parsed.rejected == 0
    assert access.files["/etc/group"].exists and "root:x:0:" in access.texts["/etc/group"]
    assert access.commands["processes"] == "ok"
    assert "/proc/self/mountinfo" in access.texts


def test_a_closed_connection_or_no_time_left_gives_an_empty_incomplete_picture() -> None:
    class Closed:
        def get_transport(self) -> None:
            return None

    access = collect_host(Closed(), Deadline(10))  # type: ignore[arg-type]
    assert access.commands[COLLECTION] == "incomplete: the SSH connection is closed"
    assert not access.files


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A scratch directory another user can reach (pytest's tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="posture-stat-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the script as another user")
def test_an_absent_path_is_told_apart_from_a_refused_one_without_stat(open_tmp: Path) -> None:
    """GIVEN paths that are absent (under a directory, under a missing one, under a file,
    a dangling link), in a loop of links, and under a directory the user may not search
    WHEN the script stats them as an unprivileged user (it proves most absences with
    test(1) alone, leaving the rest to stat)
    THEN each gets stat's own verdict: absent, unknown (the loop) or refused."""
    top = open_tmp / "top"
    (top / "locked").mkdir(parents=True)
    (top / "file").write_text("x")
    (top / "dangling").symlink_to(top / "nowhere")
    (top / "loop").symlink_to(top / "loop")
    top.chmod(0o755)
    (top / "locked").chmod(0o700)
    absent = [top / "none", top / "no" / "deeper", top / "file" / "under", top / "dangling"]
    plan = Plan(stats=[str(p) for p in [*absent, top / "loop" / "x", top / "locked" / "x"]])
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-s"],
        input=build_script(plan).encode(),
        capture_output=True,
        timeout=20,
        cwd="/",
    )
    access = HostAccess()

    parsed = parse_output(done.stdout, plan, access)

    assert parsed.complete and parsed.rejected == 0
    assert {p: access.files[p].exists for p in map(str, absent)} == dict.fromkeys(
        map(str, absent), False
    )
    looped = str(top / "loop" / "x")
    assert looped not in access.files and looped not in access.denied  # SE: unknown
    assert str(top / "locked" / "x") in access.denied
