"""/api/v1/rules/: the rule catalogue (every rule's metadata, as docs/RULES.md and the
catalogue page show it)."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils import translation
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.policy import allow
from access.roles import Perm
from api.base import ApiMixin
from rules import catalogue
from rules.base import REGISTRY, Severity


class SnippetSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    label = serializers.CharField()
    code = serializers.CharField()


class RuleSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    title = serializers.CharField()
    title_fr = serializers.CharField()
    severity = serializers.ChoiceField([s.label for s in Severity])
    severity_level = serializers.IntegerField()
    scope = serializers.CharField(help_text="daemon, container or image")
    source = serializers.CharField(help_text="api (the Engine API) or ssh (the host's files)")
    rationale = serializers.CharField()
    rationale_fr = serializers.CharField()
    remediation = serializers.DictField(child=serializers.CharField(allow_blank=True))
    owasp = serializers.ListField(child=serializers.CharField())
    cis = serializers.ListField(child=serializers.CharField())
    cis_v18 = serializers.ListField(child=serializers.CharField())
    cis_level = serializers.IntegerField(allow_null=True)
    how_decided = serializers.CharField()
    snippets = SnippetSerializer(many=True)


@extend_schema(tags=["rules"], responses={200: RuleSerializer(many=True)})
@allow(Perm.VIEW)
class RuleList(ApiMixin, APIView):
    """The whole catalogue at once (about a hundred rules): no pagination."""

    def get(self, request: Request) -> Response:
        return Response(_catalogue(translation.get_language() or "en"))


# The catalogue is the code's: serialized once per process and language (a hundred rules
# through DRF's serializers cost more than everything else in the request).
_CATALOGUES: dict[str, Any] = {}


def _catalogue(language: str) -> Any:
    if language not in _CATALOGUES:
        rules = [catalogue.rule_data(r, language) for r in catalogue.sorted_rules()]
        _CATALOGUES[language] = RuleSerializer(rules, many=True).data
    return _CATALOGUES[language]


@extend_schema(tags=["rules"], responses={200: RuleSerializer})
@allow(Perm.VIEW)
class RuleDetail(ApiMixin, APIView):
    def get(self, request: Request, rule_id: str) -> Response:
        rule = REGISTRY.get(rule_id)
        if rule is None:
            raise Http404("no such rule")
        language = translation.get_language() or "en"
        return Response(RuleSerializer(catalogue.rule_data(rule, language)).data)
