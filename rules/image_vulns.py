"""Known vulnerabilities of the images on a host (ImageFacts.vulns, filled by vulns.summary
from the image's inventory matched against imported OSV, KEV and EPSS data).

OWASP cheat sheet rules 0 (keep things up to date), 9 (scan containers) and 13 (know what
is in each image). No inventory or no vulnerability data is "unknown" with its reason,
never a pass: an image nobody could read is not an image without vulnerabilities.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from rules.base import (
    Remediation,
    Result,
    Scope,
    Severity,
    dig,
    failed,
    not_applicable,
    passed,
    rule,
    unknown,
)
from rules.facts import ContainerFacts, ImageFacts, ImageVulns, VulnRef

CRITICAL = 4  # vulndb.records.VulnSeverity.CRITICAL; rules does not import the apps
# Ids named in one verdict's evidence; the rest are counted ("and 12 more").
EVIDENCE_IDS = 5
# An image older than this while fixes exist for its packages has not been rebuilt.
STALE_DAYS = 90


def today() -> date:
    # One place for the clock, so that tests can move it.
    return datetime.now(UTC).date()


@cache
def end_of_life() -> dict[str, dict[str, str]]:
    path = Path(__file__).with_name("data") / "os_eol.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _vulns(image: ImageFacts | None) -> ImageVulns | Result:
    if image is None:
        return unknown("the container's image was not listed by the daemon")
    found = image.vulns
    if found is None:
        return unknown("image scanning did not run for this image")
    if not found.assessed:
        return unknown(f"not assessed: {found.reason or 'no inventory'}")
    return found


def _running(c: ContainerFacts) -> bool | Result:
    value = dig(c.inspect, "State.Running")
    if not isinstance(value, bool):
        return unknown("State.Running is missing")
    return value


def _listed(refs: list[VulnRef]) -> str:
    shown = [
        f"{v.id} in {v.package} {v.installed}" + (f" (fixed in {v.fixed})" if v.fixed else "")
        for v in refs[:EVIDENCE_IDS]
    ]
    more = len(refs) - EVIDENCE_IDS
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _container_check(c: ContainerFacts, select: Any, field_name: str) -> Result:
    running = _running(c)
    if isinstance(running, Result):
        return running
    if not running:
        return not_applicable("the container is not running")
    found = _vulns(c.image)
    if isinstance(found, Result):
        return found
    hits = [v for v in found.vulnerabilities if select(v)]
    if hits:
        return failed(field_name, _listed(hits))
    return passed(field_name, "none")


@rule(
    id="CTR-VULN-KEV",
    title="Running container's image has a known-exploited vulnerability",
    title_fr="L'image d'un conteneur en marche a une vulnérabilité exploitée",
    severity=Severity.CRITICAL,
    scope=Scope.CONTAINER,
    rationale=(
        "CISA lists the vulnerabilities that attackers are exploiting now. A running container "
        "built on a package with one of them is the kind of target those campaigns look for."
    ),
    rationale_fr=(
        "La CISA recense les vulnérabilités que des attaquants exploitent en ce moment. Un "
        "conteneur en marche dont un paquet en porte une est exactement ce que ces campagnes "
        "cherchent."
    ),
    remediation=Remediation(
        en=(
            "Rebuild the image on a base that carries the fixed package (or upgrade the package "
            "in the Dockerfile), redeploy, and check the vulnerability page for every other "
            "image it touches. Where no fix exists, apply the vendor's mitigation and record it "
            "as a triage decision."
        ),
        fr=(
            "Reconstruisez l'image sur une base qui contient le paquet corrigé (ou mettez le "
            "paquet à jour dans le Dockerfile), redéployez, et vérifiez sur la page de la "
            "vulnérabilité les autres images touchées. Sans correctif, appliquez la mesure "
            "d'atténuation de l'éditeur et consignez-la comme décision de tri."
        ),
    ),
    owasp=(0, 9),
    decided_by="the image's packages matched against OSV advisories and the CISA KEV list",
)
def container_kev(c: ContainerFacts) -> Result:
    return _container_check(c, lambda v: v.kev, "known exploited vulnerabilities")


@rule(
    id="CTR-VULN-CRITICAL",
    title="Running container's image has a fixable critical vulnerability",
    title_fr="L'image d'un conteneur en marche a une vulnérabilité critique corrigée",
    severity=Severity.HIGH,
    scope=Scope.CONTAINER,
    rationale=(
        "A critical vulnerability for which the distribution or the project already ships a "
        "fix is the cheapest risk to remove: a rebuild takes it away."
    ),
    rationale_fr=(
        "Une vulnérabilité critique dont la distribution ou le projet publie déjà le "
        "correctif est le risque le moins cher à supprimer : une reconstruction suffit."
    ),
    remediation=Remediation(
        en=(
            "Rebuild the image so that it picks up the fixed versions (pull a fresh base image, "
            "run the package manager's upgrade in the Dockerfile, bump the language "
            "dependency), then redeploy the containers that run it."
        ),
        fr=(
            "Reconstruisez l'image pour qu'elle prenne les versions corrigées (image de base "
            "fraîche, mise à jour des paquets dans le Dockerfile, dépendance applicative "
            "relevée), puis redéployez les conteneurs qui l'utilisent."
        ),
    ),
    owasp=(0, 9),
    decided_by="the image's packages matched against OSV advisories with a fixed version",
)
def container_critical(c: ContainerFacts) -> Result:
    return _container_check(
        c, lambda v: v.severity >= CRITICAL and bool(v.fixed), "fixable critical vulnerabilities"
    )


@rule(
    id="IMG-OS-EOL",
    title="Image's OS release is past its end of life",
    title_fr="La version de l'OS de l'image n'est plus maintenue",
    severity=Severity.HIGH,
    scope=Scope.IMAGE,
    rationale=(
        "Once a distribution release leaves security support, new flaws in its packages are "
        "no longer fixed or even tracked: the image only looks clean because nobody looks."
    ),
    rationale_fr=(
        "Quand une version de distribution sort du support de sécurité, ses nouvelles failles "
        "ne sont plus corrigées ni même suivies : l'image ne paraît saine que parce que "
        "personne ne regarde."
    ),
    remediation=Remediation(
        en="Move the image to a supported release of its base (FROM) and rebuild it.",
        fr="Passez l'image sur une version maintenue de sa base (FROM) et reconstruisez-la.",
    ),
    owasp=(0, 13),
    decided_by="the os-release file read from the image, against known end-of-life dates",
)
def image_os_eol(i: ImageFacts) -> Result:
    found = _vulns(i)
    if isinstance(found, Result):
        return found
    if not found.os_id:
        return not_applicable("the image has no OS release file (scratch or distroless)")
    releases = end_of_life().get(found.os_id)
    if releases is None:
        return unknown(f"no end-of-life dates known for {found.os_id}")
    version = found.os_version
    if found.os_id == "alpine":
        version = ".".join(version.split(".")[:2])
    elif found.os_id == "debian":
        version = version.split(".")[0]
    ends = releases.get(version)
    if ends is None:
        return unknown(f"no end-of-life date known for {found.os_id} {found.os_version}")
    name = found.os_name or f"{found.os_id} {found.os_version}"
    if date.fromisoformat(ends) < today():
        return failed("os-release", name, ("end of security support", ends))
    return passed("os-release", f"{name} (supported until {ends})")


@rule(
    id="IMG-VULN-STALE",
    title="Image not rebuilt while fixes exist for its packages",
    title_fr="Image non reconstruite alors que ses paquets ont des correctifs",
    severity=Severity.MEDIUM,
    scope=Scope.IMAGE,
    rationale=(
        f"An image built more than {STALE_DAYS} days ago whose packages have published fixes "
        "shows that nothing rebuilds it: every new flaw will stay as long."
    ),
    rationale_fr=(
        f"Une image construite il y a plus de {STALE_DAYS} jours dont les paquets ont des "
        "correctifs publiés montre que rien ne la reconstruit : chaque nouvelle faille y "
        "restera aussi longtemps."
    ),
    remediation=Remediation(
        en=(
            "Rebuild images on a schedule (weekly is common) from a fresh base, not only when "
            "the application changes, and redeploy them."
        ),
        fr=(
            "Reconstruisez les images à intervalle régulier (chaque semaine, souvent) depuis "
            "une base fraîche, pas seulement quand l'application change, puis redéployez-les."
        ),
    ),
    owasp=(9, 13),
    decided_by="Created from GET /images/{id}/json and the image's fixable vulnerabilities",
)
def image_stale(i: ImageFacts) -> Result:
    found = _vulns(i)
    if isinstance(found, Result):
        return found
    created = i.inspect.get("Created")
    try:
        built = datetime.fromisoformat(str(created).replace("Z", "+00:00")[:32]).date()
    except ValueError:
        return unknown("Created is missing or not a date")
    fixable = [v for v in found.vulnerabilities if v.fixed]
    age = (today() - built).days
    if age > STALE_DAYS and fixable:
        return failed(
            "Created", str(created), ("fixable vulnerabilities", f"{len(fixable)}"), ("age", age)
        )
    return passed("Created", str(created))
