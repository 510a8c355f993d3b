"""contrib/ssh/posture-ssh-gate as Posture sees it: where it is, and the sums it must hold.

The gate lets a host-check round through when the round's fixed lines hash to one of its
ROUND_FIRST / ROUND_FOLLOW sums; these compute those sums from the script
scans.hostaccess actually builds, the way the gate splits a round, so a test notices the
day the two disagree (`python -m lab.ssh_gate` prints the lines to paste into the gate).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

GATE = Path(__file__).resolve().parent.parent / "contrib" / "ssh" / "posture-ssh-gate"
HEADER = "echo 'POSTURE-HOST 1'"
_SAFE = re.compile(r"^/[A-Za-z0-9_@%+=:,./-]*$")


def _path_word(word: str) -> bool:
    if word.startswith("'/") and word.endswith("'") and len(word) > 2:
        return "'" not in word[1:-1]
    return bool(_SAFE.match(word))


def _variable(line: str, file_cap: int) -> bool:
    if line.startswith("st "):
        return _path_word(line[3:])
    suffix = f" {file_cap}"
    return line.startswith("rd ") and line.endswith(suffix) and _path_word(line[3 : -len(suffix)])


def fixed_part(script: str, file_cap: int) -> str:
    """The lines of one round the gate hashes: all but the st/rd lines after the header."""
    fixed, state = [], "head"
    for line in script.split("\n")[:-1]:  # the gate reads whole lines only
        if state == "head":
            fixed.append(line)
            state = "paths" if line == HEADER else "head"
        elif state == "paths" and _variable(line, file_cap):
            continue
        else:
            state = "tail"
            fixed.append(line)
    return "".join(f"{line}\n" for line in fixed)


def expected_sums() -> dict[str, str]:
    from scans import hostaccess

    first = hostaccess.build_script(hostaccess.base_plan())
    follow = hostaccess.build_script(hostaccess.Plan(stats=["/x"], reads=["/y"]))
    return {
        name: hashlib.sha256(fixed_part(script, hostaccess.FILE_CAP).encode()).hexdigest()
        for name, script in (("ROUND_FIRST", first), ("ROUND_FOLLOW", follow))
    }


def gate_sums() -> dict[str, str]:
    text = GATE.read_text()
    return {
        name: re.search(rf"^{name}=([0-9a-f]{{64}})$", text, re.M)[1]  # type: ignore[index]
        for name in ("ROUND_FIRST", "ROUND_FOLLOW")
    }


if __name__ == "__main__":
    for name, value in expected_sums().items():
        print(f"{name}={value}")
