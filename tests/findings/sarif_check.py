"""A structural check of a SARIF 2.1.0 log against the schema's key requirements.

The schema (sarif-schema-2.1.0.json) is not available offline and jsonschema is not a
dependency, so this checks by hand what the schema requires of the parts Posture writes:
required properties, enums, no properties the schema does not define (its objects are
`additionalProperties: false`), index ranges, and types.
"""

from __future__ import annotations

from typing import Any

LEVELS = {"none", "note", "warning", "error"}
LOGICAL_KINDS = {
    "function", "member", "module", "namespace", "parameter", "resource", "returnType",
    "type", "variable", "object", "array", "property", "value", "element", "text",
    "attribute", "comment", "declaration", "dtd", "processingInstruction",
}  # fmt: skip
# Properties the schema defines on each object (subsets of it for the larger objects: the
# ones a producer like Posture could plausibly write).
ALLOWED = {
    "log": {"$schema", "version", "runs", "inlineExternalPropertyFiles", "properties"},
    "run": {
        "tool", "invocations", "conversion", "language", "versionControlProvenance",
        "originalUriBaseIds", "artifacts", "logicalLocations", "graphs", "results",
        "automationDetails", "runAggregates", "baselineGuid", "redactionTokens",
        "defaultEncoding", "defaultSourceLanguage", "newlineSequences", "columnKind",
        "externalPropertyFileReferences", "threadFlowLocations", "taxonomies", "addresses",
        "translations", "policies", "webRequests", "webResponses", "specialLocations",
        "properties",
    },
    "driver": {
        "guid", "name", "organization", "product", "productSuite", "shortDescription",
        "fullDescription", "fullName", "version", "semanticVersion", "dottedQuadFileVersion",
        "releaseDateUtc", "downloadUri", "informationUri", "globalMessageStrings",
        "notifications", "rules", "taxa", "locations", "language", "contents",
        "isComprehensive", "localizedDataSemanticVersion",
        "minimumRequiredLocalizedDataSemanticVersion",
        "associatedComponent", "translationMetadata", "supportedTaxonomies", "properties",
    },
    "rule": {
        "id", "deprecatedIds", "guid", "deprecatedGuids", "name", "deprecatedNames",
        "shortDescription", "fullDescription", "messageStrings", "defaultConfiguration",
        "helpUri", "help", "relationships", "properties",
    },
    "result": {
        "ruleId", "ruleIndex", "rule", "kind", "level", "message", "analysisTarget",
        "locations", "guid", "correlationGuid", "occurrenceCount", "partialFingerprints",
        "fingerprints", "stacks", "codeFlows", "graphs", "graphTraversals", "relatedLocations",
        "suppressions", "baselineState", "rank", "attachments", "hostedViewerUri",
        "workItemUris", "provenance", "fixes", "taxa", "webRequest", "webResponse",
        "properties",
    },
    "location": {
        "id", "physicalLocation", "logicalLocations", "message", "annotations",
        "relationships", "properties",
    },
    "logical": {
        "name", "index", "fullyQualifiedName", "decoratedName", "parentIndex", "kind",
        "properties",
    },
    "multiformat": {"text", "markdown", "properties"},
    "configuration": {"enabled", "level", "rank", "parameters", "properties"},
    "suppression": {"guid", "kind", "status", "location", "justification", "properties"},
}  # fmt: skip
SUPPRESSION_KINDS = {"inSource", "external"}
SUPPRESSION_STATUSES = {"accepted", "underReview", "rejected"}


def _object(value: Any, kind: str, where: str) -> dict[str, Any]:
    assert isinstance(value, dict), f"{where}: not an object"
    extra = set(value) - ALLOWED[kind]
    assert not extra, f"{where}: properties the schema does not define: {extra}"
    return value


def _properties(value: dict[str, Any], where: str) -> None:
    if "properties" in value:
        bag = value["properties"]
        assert isinstance(bag, dict), f"{where}.properties"
        if "tags" in bag:
            tags = bag["tags"]
            assert all(isinstance(t, str) for t in tags), f"{where}.properties.tags"
            assert len(tags) == len(set(tags)), f"{where}.properties.tags not unique"


def _message(value: Any, where: str, *, multiformat: bool = False) -> None:
    assert isinstance(value, dict), f"{where}: not an object"
    if multiformat:
        _object(value, "multiformat", where)
        assert isinstance(value.get("text"), str), f"{where}.text is required"
    else:
        assert isinstance(value.get("text"), str) or isinstance(value.get("id"), str), where


def check_sarif(log: Any) -> None:
    """Fail with the path of the first thing the SARIF 2.1.0 schema would reject."""
    _object(log, "log", "log")
    assert log["version"] == "2.1.0"
    assert isinstance(log.get("$schema", ""), str)
    assert isinstance(log["runs"], list)
    for r, run in enumerate(log["runs"]):
        where = f"runs[{r}]"
        _object(run, "run", where)
        _properties(run, where)
        assert run.get("columnKind", "unicodeCodePoints") in {"utf16CodeUnits", "unicodeCodePoints"}
        driver = _object(run["tool"]["driver"], "driver", f"{where}.tool.driver")
        assert set(run["tool"]) <= {"driver", "extensions", "properties"}
        assert isinstance(driver["name"], str) and driver["name"]
        if "informationUri" in driver:
            assert driver["informationUri"].startswith(("http://", "https://"))
        rules = driver.get("rules", [])
        ids = [rule["id"] for rule in rules]
        assert len(ids) == len(set(ids)), f"{where}: duplicate rule ids"
        for i, rule in enumerate(rules):
            rwhere = f"{where}.rules[{i}]"
            _object(rule, "rule", rwhere)
            _properties(rule, rwhere)
            assert isinstance(rule["id"], str) and rule["id"]
            for key in ("shortDescription", "fullDescription", "help"):
                if key in rule:
                    _message(rule[key], f"{rwhere}.{key}", multiformat=True)
            if "defaultConfiguration" in rule:
                config = _object(rule["defaultConfiguration"], "configuration", rwhere)
                assert config.get("level", "warning") in LEVELS
        for i, result in enumerate(run.get("results", [])):
            xwhere = f"{where}.results[{i}]"
            _object(result, "result", xwhere)
            _properties(result, xwhere)
            _message(result["message"], f"{xwhere}.message")
            assert result.get("level", "warning") in LEVELS, xwhere
            if "ruleIndex" in result:
                assert isinstance(result["ruleIndex"], int) and result["ruleIndex"] >= -1
                assert rules[result["ruleIndex"]]["id"] == result["ruleId"], xwhere
            for key in ("partialFingerprints", "fingerprints"):
                prints = result.get(key, {})
                assert all(isinstance(v, str) for v in prints.values()), f"{xwhere}.{key}"
            for j, suppression in enumerate(result.get("suppressions", [])):
                swhere = f"{xwhere}.suppressions[{j}]"
                _object(suppression, "suppression", swhere)
                _properties(suppression, swhere)
                assert suppression["kind"] in SUPPRESSION_KINDS, swhere
                assert suppression.get("status", "accepted") in SUPPRESSION_STATUSES, swhere
                assert isinstance(suppression.get("justification", ""), str), swhere
            for j, location in enumerate(result.get("locations", [])):
                lwhere = f"{xwhere}.locations[{j}]"
                _object(location, "location", lwhere)
                logical = location.get("logicalLocations", [])
                for k, item in enumerate(logical):
                    _object(item, "logical", f"{lwhere}.logicalLocations[{k}]")
                    assert item.get("kind", "module") in LOGICAL_KINDS
                    # Both index into run.logicalLocations, not into this list.
                    for key in ("index", "parentIndex"):
                        value = item.get(key, -1)
                        assert isinstance(value, int), f"{lwhere}: {key}"
                        assert -1 <= value < len(run.get("logicalLocations", [])), lwhere
