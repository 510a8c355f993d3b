"""What the rules see of an image's file modes (IMG-SETUID): the setuid/setgid files a deep
read found in the headers of every layer (vulns.tarstream), or why they are not known.

os mode reads the package databases only, through archive GETs of a few paths: that is not
the whole filesystem, so it decides nothing here, and says what would.
"""

from __future__ import annotations

from collections.abc import Sequence

from rules.facts import ImageFacts
from vulns.models import ImageInventory

NEEDS_DEEP = (
    "file modes are read from every layer of the image in deep mode only: set "
    "POSTURE_IMAGE_SCAN=deep, or this host's image scan mode to deep"
)
READ_SHALLOW = (
    "its inventory was read in os mode (package databases only), so its layers' file modes "
    "were not seen; a deep read of new image content records them"
)


def attach(images: Sequence[ImageFacts], mode: str) -> None:
    """Set each image's special_files, or its modes_reason."""
    keys = {i.layers_key for i in images if i.layers_key}
    rows = {
        key: (special, status, reason)
        for key, special, status, reason in ImageInventory.objects.filter(key__in=keys).values_list(
            "key", "special_files", "status", "reason"
        )
    }
    for image in images:
        special, status, reason = rows.get(image.layers_key, (None, "", ""))
        if isinstance(special, list):
            image.special_files = tuple(_entries(special))
        elif mode != "deep":
            image.modes_reason = NEEDS_DEEP
        elif status == ImageInventory.Status.ASSESSED:
            image.modes_reason = READ_SHALLOW
        elif status == ImageInventory.Status.NOT_ASSESSED:
            image.modes_reason = f"its layers could not be read: {reason or 'no reason given'}"
        else:
            image.modes_reason = "its layers have not been read yet"


def _entries(rows: list[object]) -> list[tuple[str, int, int, int]]:
    found = []
    for row in rows:
        if (
            isinstance(row, list)
            and len(row) == 4
            and isinstance(row[0], str)
            and all(isinstance(n, int) for n in row[1:])
        ):
            found.append((row[0], row[1], row[2], row[3]))
    return found
