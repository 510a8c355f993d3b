"""Ubuntu's LTS releases are published in OSV as "Ubuntu:22.04:LTS"; images say 22.04."""

from __future__ import annotations

import pytest
from django.utils import timezone

from vulndb import index, matching
from vulndb.models import Advisory, AffectedPackage
from vulns.packages import Package

pytestmark = pytest.mark.django_db


def test_lts_data_matches_an_image_of_that_release():
    index.clear_cache()
    advisory = Advisory.objects.create(
        id="UBUNTU-CVE-2023-4911", modified=timezone.now(), group="CVE-2023-4911", severity=3
    )
    AffectedPackage.objects.create(
        advisory=advisory,
        ecosystem="Ubuntu:22.04:LTS",
        name="glibc",
        ranges=[
            {"type": "ECOSYSTEM", "events": [["introduced", "0"], ["fixed", "2.35-0ubuntu3.4"]]}
        ],
    )
    libc = Package("Ubuntu:22.04", "libc6", "2.35-0ubuntu3.3", "glibc", "2.35-0ubuntu3.3")
    [found] = matching.match([libc], index.index_for({"Ubuntu:22.04"}))
    assert (found.advisory_id, found.fixed_version) == ("UBUNTU-CVE-2023-4911", "2.35-0ubuntu3.4")
    assert index.ecosystems_with_data({"Ubuntu:22.04", "Debian:12"}) == {"Ubuntu:22.04"}
    # Another release's data is not this release's.
    assert matching.match([libc], index.index_for({"Ubuntu:20.04"})) == []
