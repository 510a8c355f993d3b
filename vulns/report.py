"""One host's images and their vulnerabilities as data: for `manage.py scan --format json`,
the CI gates and anything else that scripts Posture. Triaged vulnerabilities are left out
of the open list, as accepted risk exceptions are left out of the findings."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from findings.models import Container, Image
from hosts.models import Host
from vulndb.freshness import data_status
from vulndb.records import VulnSeverity
from vulns.models import ImageInventory, ImageVulnerability
from vulns.triage import Decisions, repositories


def _label(severity: int) -> str:
    try:
        return VulnSeverity(severity).label
    except ValueError:
        return "unknown"


def host_images(host: Host) -> list[dict[str, Any]]:
    images = list(
        Image.objects.filter(host=host, gone_at__isnull=True).values(
            "image_id", "name", "tags", "inspect", "layers_key"
        )
    )
    inventories = {
        inv.key: inv
        for inv in ImageInventory.objects.filter(key__in=[i["layers_key"] for i in images])
    }
    has_data = data_status().has_osv
    out = []
    for image in images:
        inv = inventories.get(image["layers_key"])
        if inv is None:
            assessed, reason = False, "its inventory has not been read yet"
        elif inv.status != ImageInventory.Status.ASSESSED:
            assessed, reason = False, inv.reason or inv.get_status_display()
        elif not has_data and inv.source == ImageInventory.Source.POSTURE:
            assessed, reason = False, "no vulnerability data"
        else:
            assessed, reason = True, ""
        digests = image["inspect"].get("RepoDigests") if isinstance(image["inspect"], dict) else []
        out.append(
            {
                "id": image["image_id"],
                "references": list(image["tags"] or []) + list(digests or []),
                "os": (
                    {"id": inv.os_id, "version": inv.os_version, "name": inv.os_name}
                    if inv and inv.os_id
                    else None
                ),
                "packages": inv.package_count if inv and inv.assessed else None,
                "inventory": inv.key if inv else None,
                "source": inv.source if inv else None,
                "assessed": assessed,
                "not_assessed_reason": reason or None,
            }
        )
    return out


def host_vulnerabilities(host: Host) -> list[dict[str, Any]]:
    """Open vulnerabilities of the host's current images, most urgent first."""
    images: list[dict[str, Any]] = [
        dict(row)
        for row in Image.objects.filter(host=host, gone_at__isnull=True)
        .exclude(layers_key="")
        .values("image_id", "layers_key", "tags", "inspect")
    ]
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for image in images:
        by_key[image["layers_key"]].append(image)
    containers: dict[str, list[str]] = defaultdict(list)
    for image_id, name in Container.objects.filter(host=host, gone_at__isnull=True).values_list(
        "image_id", "name"
    ):
        containers[image_id].append(name)
    rows = list(
        ImageVulnerability.objects.filter(
            inventory__key__in=list(by_key), inventory__status=ImageInventory.Status.ASSESSED
        )
        .select_related("inventory")
        .order_by("-kev", "-severity", "vuln", "package_name")
    )
    aliases = _aliases({r.vuln for r in rows} | {r.advisory_id for r in rows})
    decisions = Decisions.in_force({r.vuln for r in rows})
    labels = host.labels if isinstance(host.labels, dict) else {}
    out = []
    for row in rows:
        for image in by_key[row.inventory.key]:
            refs = list(image["tags"] or []) + list(
                (image["inspect"] or {}).get("RepoDigests") or []
            )
            if decisions and decisions.covering(
                row.vuln, row.package_name, repositories(refs), labels
            ):
                continue
            out.append(
                {
                    "id": row.vuln,
                    "aliases": sorted(
                        aliases.get(row.vuln, set()) | {row.advisory_id} - {row.vuln}
                    ),
                    "severity": _label(row.severity),
                    "package": row.package_name,
                    "ecosystem": row.ecosystem,
                    "installed_version": row.installed_version,
                    "fixed_version": row.fixed_version or None,
                    "kev": row.kev,
                    "epss": row.epss,
                    "image": image["image_id"],
                    "containers": sorted(containers.get(image["image_id"], [])),
                    "source": row.source,
                }
            )
    return out


def _aliases(ids: set[str]) -> dict[str, set[str]]:
    from vulndb.models import Advisory

    found: dict[str, set[str]] = defaultdict(set)
    for group, ident, aliases in Advisory.objects.filter(group__in=ids).values_list(
        "group", "id", "aliases"
    ):
        found[group].add(ident)
        found[group].update(a for a in aliases or [] if isinstance(a, str))
    return found
