"""/api/v1/hosts/{name}/posture/: what a CI gate reads: the score and grade of the last good
scan, how much of the catalogue it could assess (and why not the rest), the open findings
with their evidence (accepted risks marked: they do not count in the score), and the known
exploited vulnerabilities running on the host."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.policy import allow
from access.roles import Perm
from api.base import ApiMixin
from findings.models import Finding
from findings.selection import hosts_in
from fleet.hostpage import coverage
from hosts.models import Host
from rules.base import REGISTRY, Severity
from scans.models import ScanRun
from scans.status import host_status, posture_of
from vulns.places import host_summary

SEVERITIES = [s.label for s in sorted(Severity, reverse=True) if s is not Severity.INFO]


class PostureEvidenceSerializer(serializers.Serializer[Any]):
    field = serializers.CharField()
    value = serializers.CharField()


class PostureFindingSerializer(serializers.Serializer[Any]):
    rule_id = serializers.CharField()
    title = serializers.CharField()
    severity = serializers.ChoiceField([s.label for s in Severity])
    subject_kind = serializers.CharField()
    subject_name = serializers.CharField()
    subject_key = serializers.CharField()
    evidence = PostureEvidenceSerializer(many=True)
    accepted = serializers.BooleanField(help_text="A risk exception keeps it out of the score.")
    opened_at = serializers.DateTimeField()


class PostureNotAssessedSerializer(serializers.Serializer[Any]):
    rule_id = serializers.CharField()
    title = serializers.CharField()
    cause = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())


class PostureCoverageSerializer(serializers.Serializer[Any]):
    assessed = serializers.IntegerField(help_text="Rules decided (pass or fail).")
    applicable = serializers.IntegerField(help_text="Rules that concern this host.")
    percent = serializers.IntegerField(allow_null=True)
    catalogue = serializers.IntegerField()
    not_assessed = PostureNotAssessedSerializer(many=True)
    manual = serializers.ListField(child=serializers.CharField())
    not_applicable = serializers.IntegerField()


class PostureSerializer(serializers.Serializer[Any]):
    host = serializers.CharField()
    status = serializers.CharField()
    score = serializers.IntegerField(allow_null=True)
    grade = serializers.CharField()
    assessed_at = serializers.DateTimeField(allow_null=True)
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    error_class = serializers.CharField()
    coverage = PostureCoverageSerializer()
    failing = serializers.DictField(
        child=serializers.IntegerField(), help_text="Failing rules per severity (the score's)."
    )
    findings = PostureFindingSerializer(many=True)
    open_kev = serializers.IntegerField(help_text="Known exploited vulnerabilities running.")


def _finding(finding: Finding) -> dict[str, Any]:
    rule = REGISTRY.get(finding.rule_id)
    try:
        severity = Severity(finding.severity).label
    except ValueError:
        severity = Severity.INFO.label
    evidence = [
        {"field": str(e.get("field", "")), "value": str(e.get("value", ""))}
        for e in finding.evidence
        if isinstance(e, dict)
    ]
    return {
        "rule_id": finding.rule_id,
        "title": rule.title if rule else finding.rule_id,
        "severity": severity,
        "subject_kind": finding.subject_kind,
        "subject_name": finding.subject_name,
        "subject_key": finding.subject_key,
        "evidence": [
            {"field": str(e.get("field", "")), "value": str(e.get("value", ""))} for e in evidence
        ],
        "accepted": finding.accepted,
        "opened_at": finding.opened_at,
    }


def posture_data(host: Host) -> dict[str, Any]:
    posture = posture_of(host)
    active = ScanRun.objects.active().filter(host=host).exists()
    summary = posture.rule_summary if posture else {}
    cover = coverage(summary if isinstance(summary, dict) else {})
    findings = (
        Finding.objects.open().for_host(host).order_by("-severity", "rule_id", "subject_name")
    )
    failing = {s: getattr(posture, f"failing_{s}", 0) if posture else 0 for s in SEVERITIES}
    return {
        "host": host.name,
        "status": host_status(host, posture, active).state,
        "score": posture.score if posture else None,
        "grade": posture.grade if posture else "",
        "assessed_at": posture.last_success_at if posture else None,
        "last_attempt_at": posture.last_attempt_at if posture else None,
        "error_class": posture.last_error_class if posture else "",
        "coverage": {
            "assessed": cover.assessed,
            "applicable": cover.applicable,
            "percent": cover.percent,
            "catalogue": cover.catalogue,
            "not_assessed": [
                {"rule_id": r.rule_id, "title": r.title, "cause": g.cause, "reasons": r.reasons}
                for g in cover.causes
                for r in g.rules
            ],
            "manual": [r.rule_id for r in cover.manual],
            "not_applicable": len(cover.not_applicable),
        },
        "failing": failing,
        "findings": [_finding(f) for f in findings],
        "open_kev": host_summary(host).kev,
    }


@extend_schema(tags=["hosts"], responses={200: PostureSerializer})
@allow(Perm.VIEW)
class HostPostureView(ApiMixin, APIView):
    def get(self, request: Request, name: str) -> Response:
        host = get_object_or_404(hosts_in(self.access.scope).select_related("posture"), name=name)
        data = posture_data(host)
        response = Response(PostureSerializer(data).data)
        # The picture changes only when a scan ends: If-Modified-Since from its time.
        when = data["last_attempt_at"]
        response.last_modified_ts = int(when.timestamp()) if when else None  # type: ignore[attr-defined]
        return response
