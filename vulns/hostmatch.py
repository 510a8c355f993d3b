"""A host's own packages (its Docker Engine, containerd, runc, kernel) matched against the
distribution's advisories, the way an image's packages are (vulns.inventories.match): the
same index, the same source-package matching, the same version order per ecosystem. So a
Debian build that carries a backported fix under an old upstream number is matched by its
Debian version, and passes; one without the fix is below the advisory's fixed version.

Nothing is stored: the result goes into the scan's facts for OWASP rule 0.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from rules.facts import VulnRef
from vulndb.models import Advisory
from vulns.packages import Package


def has_data(ecosystem: str) -> bool:
    """Whether any advisory of this release ("Debian:12") has been imported."""
    from vulndb import index as vuln_index

    return bool(ecosystem) and bool(vuln_index.ecosystems_with_data([ecosystem]))


def match_packages(packages: Sequence[Package]) -> list[tuple[VulnRef, ...]]:
    """For each package, in order, the advisories that affect its installed build, one per
    flaw (a DSA and its CVE record are one), the worst severity and highest fix kept."""
    from vulndb import index as vuln_index
    from vulndb import matching

    found: list[dict[str, VulnRef]] = [{} for _ in packages]
    if not packages:
        return []
    index = vuln_index.index_for({p.ecosystem for p in packages})
    matches = matching.match(packages, index)
    advisories = {
        ident: (group, severity)
        for ident, group, severity in Advisory.objects.filter(
            id__in={m.advisory_id for m in matches}
        ).values_list("id", "group", "severity")
    }
    kev = vuln_index.kev_set({group for group, _ in advisories.values()})
    for m in matches:
        if m.advisory_id not in advisories:
            continue
        group, severity = advisories[m.advisory_id]
        package = packages[m.package_index]
        ref = VulnRef(
            id=group,
            package=package.name,
            installed=package.version,
            fixed=(m.fixed_version or "")[:128],
            severity=severity,
            kev=group in kev,
        )
        known = found[m.package_index].get(group)
        if known is not None:
            ref = _worse(known, ref, package.ecosystem)
        found[m.package_index][group] = ref
    return [tuple(sorted(refs.values(), key=lambda r: (-r.severity, r.id))) for refs in found]


def _worse(a: VulnRef, b: VulnRef, ecosystem: str) -> VulnRef:
    from vulndb import versions

    fixed = a.fixed
    if not a.fixed or not b.fixed:
        fixed = ""  # still unfixed by one of the two records
    else:
        with contextlib.suppress(versions.InvalidVersion):
            fixed = a.fixed if versions.compare(ecosystem, a.fixed, b.fixed) >= 0 else b.fixed
    return VulnRef(
        id=a.id,
        package=a.package,
        installed=a.installed,
        fixed=fixed,
        severity=max(a.severity, b.severity),
        kev=a.kev or b.kev,
    )
