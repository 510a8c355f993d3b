"""Re-key open finding regressions from "finding:<id>" to the problem key (alerts.detect).

Without this, the first redeploy after an upgrade would close every open regression keyed
by its old finding and open one under the new key: a recovery and a regression mail for
each, the storm the new key exists to stop.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import migrations
from django.db.models import F

# A copy of alerts.detect.problem_key as it was when this migration was written: a
# migration must not change meaning when the code it once imported does.
NAMED_SUBJECTS = frozenset({"container", "image"})
LEGACY = "finding:"


def problem_key(rule_id: str, subject_kind: str, subject_name: str) -> str:
    name = subject_name if subject_kind in NAMED_SUBJECTS else ""
    raw = "\0".join((rule_id, subject_kind, name)).encode("utf-8", "surrogatepass")
    return "subject:" + hashlib.sha224(raw).hexdigest()


def rekey(apps: Any, schema_editor: Any) -> None:
    Regression = apps.get_model("alerts", "Regression")
    legacy = (
        Regression.objects.filter(
            closed_at__isnull=True,
            kind__in=["finding", "dangerous"],
            key__startswith=LEGACY,
            finding__isnull=False,
        )
        .select_related("finding")
        # An open finding first, so it keeps the key when two regressions share one.
        .order_by(F("finding__resolved_at").asc(nulls_first=True), "-finding_id")
    )
    taken = set(
        Regression.objects.filter(closed_at__isnull=True)
        .exclude(key__startswith=LEGACY)
        .values_list("host_id", "kind", "key")
    )
    batch = []
    for regression in legacy.iterator(chunk_size=2000):
        f = regression.finding
        key = problem_key(f.rule_id, f.subject_kind, f.subject_name)
        if (regression.host_id, regression.kind, key) in taken:
            # Two old regressions for one problem (a hostile daemon reporting two containers
            # of one name): the other keeps its old key and still closes with its finding.
            continue
        taken.add((regression.host_id, regression.kind, key))
        regression.key = key
        regression.details = {
            **regression.details,
            "rule_id": f.rule_id,
            "subject_kind": f.subject_kind,
            "subject_name": f.subject_name,
        }
        batch.append(regression)
        if len(batch) >= 2000:
            Regression.objects.bulk_update(batch, ["key", "details"])
            batch = []
    if batch:
        Regression.objects.bulk_update(batch, ["key", "details"])


def unkey(apps: Any, schema_editor: Any) -> None:
    # The code before this migration closes a regression by its finding's id.
    Regression = apps.get_model("alerts", "Regression")
    batch = []
    for regression in Regression.objects.filter(
        closed_at__isnull=True, key__startswith="subject:", finding__isnull=False
    ).iterator(chunk_size=2000):
        regression.key = f"{LEGACY}{regression.finding_id}"
        batch.append(regression)
    Regression.objects.bulk_update(batch, ["key"], batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0001_initial"),
    ]

    operations = [migrations.RunPython(rekey, unkey)]
