"""What the data endpoints answer, as DRF serializers: they describe the OpenAPI schema and
shape the dicts that findings.export, vulns.report, vulns.queries and trends.queries build
(no figure is computed here)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from findings.export import finding_data
from policy.models import RiskException
from vulndb.records import VulnSeverity


class SubjectSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField(help_text="daemon, container or image")
    id = serializers.CharField()
    name = serializers.CharField()


class EvidenceSerializer(serializers.Serializer[Any]):
    field = serializers.CharField()
    value = serializers.CharField()


class AcceptedBySerializer(serializers.Serializer[Any]):
    reason = serializers.CharField()
    owner = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)


class FindingSerializer(serializers.Serializer[Any]):
    """findings.export.finding_data, plus the finding's id."""

    id = serializers.IntegerField()
    host = serializers.CharField()
    rule_id = serializers.CharField()
    title = serializers.CharField()
    severity = serializers.CharField(help_text="critical, high, medium, low or info")
    owasp = serializers.ListField(child=serializers.CharField())
    cis = serializers.ListField(child=serializers.CharField())
    subject = SubjectSerializer()
    evidence = EvidenceSerializer(many=True)
    opened_at = serializers.DateTimeField()
    accepted = serializers.BooleanField(help_text="a risk exception left it out of the score")
    exception = AcceptedBySerializer(allow_null=True)

    def to_representation(self, instance: Any) -> Any:
        # A row of Finding.values(*FINDING_FIELDS, "id"), read once for the whole page.
        return super().to_representation({**finding_data(instance), "id": instance["id"]})


class RiskExceptionSerializer(serializers.ModelSerializer[RiskException]):
    host = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    label = serializers.SerializerMethodField()
    state = serializers.SerializerMethodField()
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RiskException
        fields = (
            "id",
            "rule_id",
            "host",
            "label",
            "container_pattern",
            "image_pattern",
            "reason",
            "owner",
            "expires_at",
            "state",
            "created_at",
            "requested_by",
            "approved_by",
            "approved_at",
            "revoked_at",
            "revoked_by",
        )

    def get_label(self, exc: RiskException) -> str:
        return f"{exc.label_key}={exc.label_value}" if exc.label_key else ""

    def get_state(self, exc: RiskException) -> str:
        return str(exc.current_state)


class RiskExceptionRequestSerializer(serializers.Serializer[Any]):
    """The exception page's form, as JSON (policy.forms.RiskExceptionForm validates it)."""

    rule_id = serializers.CharField()
    host = serializers.CharField(required=False, help_text="only on this host")
    label = serializers.CharField(required=False, help_text="only on hosts with key=value")
    container_pattern = serializers.CharField(required=False, help_text="glob, e.g. pay-*")
    image_pattern = serializers.CharField(required=False, help_text="glob on image references")
    reason = serializers.CharField()
    owner = serializers.CharField()
    expires_in = serializers.ChoiceField(choices=[30, 90, 180], required=False)
    expires_on = serializers.DateField(required=False, help_text="wins over expires_in")


class VulnerabilityGroupSerializer(serializers.Serializer[Any]):
    """One vulnerability across the fleet in scope (vulns.queries.VulnGroup)."""

    id = serializers.CharField(source="vuln")
    severity = serializers.CharField(source="severity_label")
    kev = serializers.BooleanField()
    epss = serializers.FloatField(allow_null=True)
    packages = serializers.ListField(child=serializers.CharField(), source="package_list")
    fixed_versions = serializers.ListField(child=serializers.CharField(), source="fixed_list")
    fixable = serializers.BooleanField()
    images = serializers.IntegerField()
    hosts = serializers.IntegerField()
    containers = serializers.IntegerField()


class HostVulnerabilitySerializer(serializers.Serializer[Any]):
    """One open vulnerability of one image of the host (vulns.report.host_vulnerabilities)."""

    id = serializers.CharField()
    aliases = serializers.ListField(child=serializers.CharField())
    severity = serializers.CharField()
    package = serializers.CharField()
    ecosystem = serializers.CharField()
    installed_version = serializers.CharField()
    fixed_version = serializers.CharField(allow_null=True)
    kev = serializers.BooleanField()
    epss = serializers.FloatField(allow_null=True)
    image = serializers.CharField(help_text="the image id")
    containers = serializers.ListField(child=serializers.CharField())
    source = serializers.CharField(help_text="posture, trivy or cyclonedx")


class OsSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    version = serializers.CharField()
    name = serializers.CharField()


class HostImageSerializer(serializers.Serializer[Any]):
    """One current image of the host (vulns.report.host_images)."""

    id = serializers.CharField()
    references = serializers.ListField(child=serializers.CharField())
    os = OsSerializer(allow_null=True)
    packages = serializers.IntegerField(allow_null=True)
    inventory = serializers.CharField(allow_null=True, help_text="its inventory key")
    source = serializers.CharField(allow_null=True)
    assessed = serializers.BooleanField()
    not_assessed_reason = serializers.CharField(allow_null=True)


class InventoryVulnerabilitySerializer(serializers.Serializer[Any]):
    """A vulnerability matched in an image's inventory (vulns.models.ImageVulnerability)."""

    id = serializers.CharField(source="vuln")
    advisory = serializers.CharField(source="advisory_id")
    severity = serializers.SerializerMethodField()
    package = serializers.CharField(source="package_name")
    ecosystem = serializers.CharField()
    installed_version = serializers.CharField()
    fixed_version = serializers.CharField()
    kev = serializers.BooleanField()
    epss = serializers.FloatField(allow_null=True)
    source = serializers.CharField()
    first_seen_at = serializers.DateTimeField(allow_null=True)

    def get_severity(self, row: Any) -> str:
        try:
            return VulnSeverity(row.severity).label
        except ValueError:
            return VulnSeverity.UNKNOWN.label


class TrendPointSerializer(serializers.Serializer[Any]):
    day = serializers.DateField()
    score = serializers.FloatField(allow_null=True, help_text="mean of the hosts' last scores")
    hosts = serializers.IntegerField(help_text="hosts scored that day")


class FleetTrendSerializer(serializers.Serializer[Any]):
    team = serializers.CharField()
    env = serializers.CharField()
    days = serializers.IntegerField()
    series = TrendPointSerializer(many=True)


class TeamTrendSerializer(serializers.Serializer[Any]):
    team = serializers.CharField()
    series = TrendPointSerializer(many=True)


class TeamTrendsSerializer(serializers.Serializer[Any]):
    days = serializers.IntegerField()
    teams = TeamTrendSerializer(many=True)


class UploadReportSerializer(serializers.Serializer[Any]):
    """vulns.ingest.IngestReport."""

    kind = serializers.CharField(help_text="trivy or cyclonedx")
    image = serializers.CharField(help_text="what the document says it describes")
    inventory_key = serializers.CharField()
    hosts = serializers.IntegerField(help_text="hosts that run it now")
    packages = serializers.IntegerField(help_text="packages added")
    added = serializers.IntegerField(help_text="vulnerabilities added")
    duplicates = serializers.IntegerField(help_text="vulnerabilities already known")
