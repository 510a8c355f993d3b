"""CIS Docker Benchmark numbering: v1.6.0 (the catalogue's base) against v1.8.0.

What v1.8.0 changed, as far as the rules here are concerned (checked against Docker Bench
for Security 1.6.0's own output and two independent v1.8.0 control sets):

- Section 2 gained "2.7 Ensure devicemapper storage driver is not used", so every v1.6.0
  item from 2.7 (TLS) on moves down by one: 2.9 userns -> 2.10, 2.12 authorization ->
  2.13, 2.13 centralized logging -> 2.14, 2.14 no-new-privileges -> 2.15, 2.15 live
  restore -> 2.16, 2.17 seccomp -> 2.18, 2.18 experimental -> 2.19. 2.1 to 2.6 are unchanged.
- Sections 1.2, 4, 5 and 7 keep their v1.6.0 numbers (5.1 is still swarm mode, 5.32 the
  Docker socket, 7.1 the minimum number of managers).

Older numberings (v1.4.0 and before, where section 5 started at AppArmor and 5.31 was the
socket) are not used anywhere in the catalogue.
"""

from __future__ import annotations

# v1.6.0 section 2 id -> v1.8.0 id, for the items that moved.
SECTION_2_MOVES = {f"2.{n}": f"2.{n + 1}" for n in range(7, 19)}
UNCHANGED_PREFIXES = ("1.2.", "4.", "5.", "7.")
# Recommendations v1.8.0 added, which a rule may list beside its v1.6.0 one.
NEW_IN_V18 = frozenset({"2.7"})  # devicemapper storage driver


def v18(cis_v16: str) -> str | None:
    """The v1.8.0 id of a v1.6.0 recommendation; None where the mapping is not known."""
    if cis_v16 in SECTION_2_MOVES:
        return SECTION_2_MOVES[cis_v16]
    if cis_v16 in {f"2.{n}" for n in range(1, 7)} or cis_v16.startswith(UNCHANGED_PREFIXES):
        return cis_v16
    return None
