"""The one writer of a host's picture (HostPosture, inventory, findings, score samples and
its rule contributions): a successful scan becomes the current picture; a failed one touches
only the host's health counters. scans.finish calls these inside the transaction that closes
the ScanRun."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from django.db import IntegrityError, transaction
from django.utils import timezone

from findings import tallies
from findings.models import Container, Finding, HostPosture, Image, ScoreSample
from hosts.models import Host
from rules import Evaluation, HostScore, Outcome
from rules.base import Cause
from rules.facts import HostFacts, ImageFacts

# scans.transports.errors.ErrorClass.INTERRUPTED: findings comes before scans and cannot
# import it (tests/scans/test_scan_end.py holds the two equal).
INTERRUPTED = "interrupted"


class ScanRef(Protocol):
    """The scan being stored (a scans.ScanRun; findings sits below scans and names only
    what it reads)."""

    pk: Any
    host_id: Any
    host: Host
    finished_at: datetime | None


# Built once: json.dumps builds a new encoder on every call that passes options.
_CANONICAL = json.JSONEncoder(sort_keys=True, default=str)


def digest(data: Any) -> str:
    return hashlib.sha256(_CANONICAL.encode(data).encode()).hexdigest()


def _go_order(value: Any) -> Any:
    """Keys sorted at every level, as dockerd's Go encoder sorts map keys (Labels, Volumes,
    ExposedPorts): PostgreSQL's jsonb hands them back in its own order, and a rule that
    lists several labels would otherwise give its evidence in another order."""
    if isinstance(value, dict):
        return {k: _go_order(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_go_order(v) for v in value]
    return value


def known_images(host: Host) -> dict[str, ImageFacts]:
    """The host's stored images by id, for collect() to reuse instead of inspecting again.

    An image id is the hash of the image's config, so its inspect and history cannot have
    changed; only its references can, and collect() takes those from the listing. An image
    whose history could not be read is left out, so that it is asked for again.
    """
    rows = Image.objects.filter(host=host, gone_at__isnull=True, history__isnull=False)
    return {
        image_id: ImageFacts(id=image_id, inspect=_go_order(inspect), history=history)
        for image_id, inspect, history in rows.values_list("image_id", "inspect", "history")
        if isinstance(inspect, dict) and isinstance(history, list)
    }


def _short(value: Any, limit: int) -> str:
    return str(value or "")[:limit]


def _sync_inventory(
    scan: ScanRef,
    model: Any,  # Container or Image: same inventory fields
    key_field: str,
    items: dict[str, dict[str, Any]],
) -> None:
    """Create new items, rewrite changed ones, mark vanished ones gone; leave the rest."""
    now = scan.finished_at or timezone.now()
    # Tuples, not model instances: on an unchanged host every row is read and none written.
    existing = {
        key: (pk, row_digest, gone_at)
        for pk, key, row_digest, gone_at in model.objects.filter(host=scan.host).values_list(
            "pk", key_field, "digest", "gone_at"
        )
    }
    create, update = [], []
    for key, fields in items.items():
        row = existing.get(key)
        if row is None:
            create.append(model(host=scan.host, **{key_field: key}, first_seen_at=now, **fields))
        elif row[1] != fields["digest"] or row[2] is not None:
            update.append(model(pk=row[0], **fields, gone_at=None))
    model.objects.bulk_create(create, batch_size=500)
    if update:
        model.objects.bulk_update(
            update, [*next(iter(items.values())).keys(), "gone_at"], batch_size=500
        )
    vanished = [row[0] for key, row in existing.items() if key not in items and row[2] is None]
    if vanished:
        model.objects.filter(pk__in=vanished).update(gone_at=now)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _container_fields(facts: HostFacts) -> dict[str, dict[str, Any]]:
    out = {}
    for c in facts.containers:
        config = _dict(c.inspect.get("Config"))
        state = _dict(c.inspect.get("State"))
        out[c.id] = {
            "name": _short(c.name, 255),
            "image_ref": _short(config.get("Image"), 255),
            "image_id": _short(c.inspect.get("Image"), 80),
            "state": _short(state.get("Status"), 32),
            "inspect": c.inspect,
            "digest": digest(c.inspect),
        }
    return out


def _image_fields(facts: HostFacts) -> dict[str, dict[str, Any]]:
    out = {}
    for i in facts.images:
        tags = i.inspect.get("RepoTags") if isinstance(i.inspect.get("RepoTags"), list) else []
        out[i.id] = {
            "name": _short(i.name, 255),
            "tags": tags,
            "inspect": i.inspect,
            "history": i.history,
            "layers_key": i.layers_key,
            "digest": digest([i.inspect, i.history]),
        }
    return out


def _evidence(ev: Evaluation) -> list[dict[str, str]]:
    return [{"field": e.field, "value": e.value[:2000]} for e in ev.result.evidence]


def _sync_findings(scan: ScanRef, evaluations: Iterable[Evaluation], facts: HostFacts) -> None:
    now = scan.finished_at or timezone.now()
    # Tuples, not model instances: a host has hundreds of open findings, all read on every
    # scan and almost never written.
    open_findings = {
        (rule_id, kind, key): (pk, subject_name, evidence, accepted, exception_id)
        for pk, rule_id, kind, key, subject_name, evidence, accepted, exception_id in (
            Finding.objects.open()
            .for_host(scan.host)
            .values_list(
                "pk",
                "rule_id",
                "subject_kind",
                "subject_key",
                "subject_name",
                "evidence",
                "accepted",
                "exception_id",
            )
        )
    }
    outcomes: dict[tuple[str, str, str], Evaluation] = {}
    for ev in evaluations:
        outcomes[(ev.rule.id, ev.subject_kind.value, ev.subject_key)] = ev

    create, update = [], []
    for key, ev in outcomes.items():
        if ev.outcome is not Outcome.FAIL:
            continue
        found = open_findings.get(key)
        if found is None:
            create.append(
                Finding(
                    host=scan.host,
                    rule_id=ev.rule.id,
                    severity=int(ev.rule.severity),
                    subject_kind=ev.subject_kind.value,
                    subject_key=ev.subject_key,
                    subject_name=_short(ev.subject_name, 255),
                    evidence=_evidence(ev),
                    opened_at=now,
                    opened_scan_id=scan.pk,
                    accepted=ev.accepted_by is not None,
                    exception_id=ev.accepted_by,
                )
            )
            continue
        # No longer accepted (expired, revoked): the exception is kept, for "expired on …".
        accepted = ev.accepted_by is not None
        exception_id = ev.accepted_by if accepted else found[4]
        if (
            found[1] != ev.subject_name[:255]
            or found[2] != _evidence(ev)
            or (found[3], found[4]) != (accepted, exception_id)
        ):
            update.append(
                Finding(
                    pk=found[0],
                    subject_name=_short(ev.subject_name, 255),
                    evidence=_evidence(ev),
                    accepted=accepted,
                    exception_id=exception_id,
                )
            )

    resolved = []
    for key, found in open_findings.items():
        latest = outcomes.get(key)
        # An unknown verdict is not a fix: the finding stays open until a rule says pass,
        # not applicable, or the subject (container, image) is gone.
        if latest is None or latest.outcome in (Outcome.PASS, Outcome.NOT_APPLICABLE):
            resolved.append(found[0])
    Finding.objects.bulk_create(create, batch_size=500)
    if update:
        Finding.objects.bulk_update(
            update, ["evidence", "subject_name", "accepted", "exception"], batch_size=500
        )
    if resolved:
        Finding.objects.filter(pk__in=resolved).update(resolved_at=now, resolved_scan_id=scan.pk)


_COUNTS = {"pass": 0, "fail": 0, "na": 0, "unknown": 0, "manual": 0}


def _rule_summary(evaluations: Iterable[Evaluation]) -> dict[str, dict[str, Any]]:
    """Per rule: counts of each outcome, and why the unknowns are unknown (cause, reasons)."""
    summary: dict[str, dict[str, Any]] = {}
    for ev in evaluations:
        entry = summary.get(ev.rule.id)
        if entry is None:  # not setdefault: that would build this dict for every evaluation
            entry = summary[ev.rule.id] = {**_COUNTS, "causes": {}, "reasons": []}
        entry[ev.outcome.value] += 1
        if ev.outcome not in (Outcome.UNKNOWN, Outcome.MANUAL):
            continue
        if ev.outcome is Outcome.UNKNOWN:
            cause = (ev.result.cause or Cause.DATA_MISSING).value
            entry["causes"][cause] = entry["causes"].get(cause, 0) + 1
        reason, reasons = ev.result.reason, entry["reasons"]
        if reason and reason not in reasons and len(reasons) < 3:
            reasons.append(reason[:200])
    return summary


def store_picture(
    scan: ScanRef, facts: HostFacts, evaluations: list[Evaluation], score: HostScore, now: datetime
) -> None:
    """Make a successful scan the host's current picture: inventory, finding lifecycle,
    HostPosture, its rule contributions, a ScoreSample. Call inside the transaction that
    marks the scan succeeded (scans.finish)."""
    engine = _short(facts.version.get("Version"), 64)
    _sync_inventory(scan, Container, "container_id", _container_fields(facts))
    _sync_inventory(scan, Image, "image_id", _image_fields(facts))
    _sync_findings(scan, evaluations, facts)

    failing = score.failing_by_severity
    counts = {
        "failing_critical": failing.get("critical", 0),
        "failing_high": failing.get("high", 0),
        "failing_medium": failing.get("medium", 0),
        "failing_low": failing.get("low", 0),
    }
    picture = {
        "current_scan_id": scan.pk,
        "score": score.score,
        "grade": score.grade,
        "rules_assessed": score.rules_assessed,
        "rules_unknown": score.rules_unknown,
        "rule_summary": _rule_summary(evaluations),
        "engine_version": engine,
        "containers": len(facts.containers),
        "images": len(facts.images),
        "last_success_at": now,
        "last_scan_id": scan.pk,
        "last_attempt_at": now,
        "last_error_class": "",
        "consecutive_failures": 0,
        **counts,
    }
    # One UPDATE, without a model instance: the row exists after a host's first finished scan.
    if not HostPosture.objects.filter(host_id=scan.host_id).update(**picture):
        try:
            with transaction.atomic():
                HostPosture.objects.create(host_id=scan.host_id, **picture)
        except IntegrityError:  # a failure of an expired scan of this host created it meanwhile
            HostPosture.objects.filter(host_id=scan.host_id).update(**picture)
    # The host's own share of the rule catalogue's fleet totals, after the posture row is
    # written: its lock, held until the scan's transaction ends, makes two writers of this
    # host take turns; other hosts' scans lock nothing in common (findings.tallies).
    tallies.store_contribution(scan.host_id, picture["rule_summary"])
    ScoreSample.objects.create(
        host_id=scan.host_id,
        scan_id=scan.pk,
        taken_at=now,
        score=score.score,
        grade=score.grade,
        **counts,
    )


def note_failure(scan: ScanRef, error_class: str, now: datetime) -> None:
    """A failed scan's mark on the host's health counters; its last good picture (score,
    findings, inventory) stays untouched. Call inside the transaction that marks the scan
    failed (scans.finish).

    An interrupted scan (its worker was killed, ran out of memory, restarted) says nothing
    about the host: it shows as the host's last error but does not add to its failure
    streak, which opens the "failed its last N scans" alert that host owners receive.
    Workers that keep dying are the operator's to hear about (the PostureScansFailing and
    PostureScansLeaseExpired rules in deploy/prometheus). The 200-kill campaign showed why:
    a scan, its re-run and the next slot all hit by kills mailed that a healthy host had
    failed (docs/RELIABILITY.md)."""
    posture, _ = HostPosture.objects.select_for_update().get_or_create(host_id=scan.host_id)
    posture.last_scan_id = scan.pk
    posture.last_attempt_at = now
    posture.last_error_class = error_class
    if error_class != INTERRUPTED:
        posture.consecutive_failures += 1
    posture.save(
        update_fields=["last_scan", "last_attempt_at", "last_error_class", "consecutive_failures"]
    )
