"""Our pySigma processing pipeline: Sysmon-style Sigma rules → this product's ECS events.

Steps, in order (each a pySigma `ProcessingItem`):

1. Split Sysmon's `Hashes` ("SHA256=…,IMPHASH=…") into one field per algorithm.
2. `Initiated: true/false` → `egress` / `ingress` (the values `network.direction` has).
3. Field names per logsource category (`fields.FIELDS`), so `ProcessGuid` →
   `process.entity_id`, `Image` → `process.executable`, ….
4. `host.os.type` for the logsource product (Elastic's rules test it too, and it keeps a
   Windows rule off Linux records).
5. The EQL event category for the logsource category, kept in the pipeline state
   (`category`) where the backend reads it, so routing and prefilters work.
6. A rule of a logsource category we do not map fails with a reason (a skip, not an error).

This module imports pySigma: import it only when a Sigma rule is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigma.processing.conditions import (
    IncludeFieldCondition,
    LogsourceCondition,
    RuleProcessingItemAppliedCondition,
)
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    AddConditionTransformation,
    FieldMappingTransformation,
    HashesFieldsDetectionItemTransformation,
    RuleFailureTransformation,
    SetStateTransformation,
)
from sigma.processing.transformations.base import ValueTransformation
from sigma.types import SigmaBool, SigmaString, SigmaType

from connector.detection.sigma.fields import CATEGORIES, FIELDS, PRODUCTS

__all__ = ["UNSUPPORTED_LOGSOURCE", "s1_pipeline"]

UNSUPPORTED_LOGSOURCE = "s1_unsupported_logsource"
"""Identifier of the failure item: its message starts with this marker (see `convert.py`)."""

_DIRECTIONS = {"true": "egress", "false": "ingress"}


@dataclass
class InitiatedToDirection(ValueTransformation):
    """Sysmon `Initiated` (`true` = the host opened the connection) → `egress`/`ingress`.

    Sigma writes it as a string (`'true'`) or a YAML boolean; both are handled. Any other value
    is left as is (it can then never match, which the fold reports)."""

    def apply_value(self, field: str | None, val: SigmaType) -> SigmaType | None:
        if isinstance(val, SigmaBool):
            return SigmaString(_DIRECTIONS[str(val.boolean).lower()])
        if isinstance(val, SigmaString) and str(val).lower() in _DIRECTIONS:
            return SigmaString(_DIRECTIONS[str(val).lower()])
        return None


def _category_items() -> list[ProcessingItem]:
    items = []
    for sigma_category, table in FIELDS.items():
        mapping: dict[str | None, str | list[str]] = dict(table.items())
        # A condition object belongs to one item (pySigma binds it to its pipeline).
        items.append(
            ProcessingItem(
                identifier=f"s1_fields_{sigma_category}",
                transformation=FieldMappingTransformation(mapping),
                rule_conditions=[LogsourceCondition(category=sigma_category)],
            )
        )
        items.append(
            ProcessingItem(
                identifier=f"s1_category_{sigma_category}",
                transformation=SetStateTransformation("category", CATEGORIES[sigma_category]),
                rule_conditions=[LogsourceCondition(category=sigma_category)],
            )
        )
    return items


def _product_items() -> list[ProcessingItem]:
    return [
        ProcessingItem(
            identifier=f"s1_product_{product}",
            transformation=AddConditionTransformation({"host.os.type": os_type}),
            rule_conditions=[LogsourceCondition(product=product)],
        )
        for product, os_type in PRODUCTS.items()
    ]


def s1_pipeline() -> ProcessingPipeline:
    """The pipeline above, as a fresh object (pySigma pipelines keep per-rule state)."""
    supported = [RuleProcessingItemAppliedCondition(f"s1_category_{c}") for c in CATEGORIES]
    return ProcessingPipeline(
        name="s1-dv-connector: Sysmon fields to SentinelOne ECS",
        priority=20,
        items=[
            ProcessingItem(
                identifier="s1_hashes",
                transformation=HashesFieldsDetectionItemTransformation(
                    valid_hash_algos=["MD5", "SHA1", "SHA256", "IMPHASH"], field_prefix="Hash_"
                ),
                field_name_conditions=[IncludeFieldCondition(["Hashes", "Hash"])],
            ),
            ProcessingItem(
                identifier="s1_initiated",
                transformation=InitiatedToDirection(),
                field_name_conditions=[IncludeFieldCondition(["Initiated"])],
            ),
            *_category_items(),
            *_product_items(),
            ProcessingItem(
                identifier=UNSUPPORTED_LOGSOURCE,
                transformation=RuleFailureTransformation(
                    f"{UNSUPPORTED_LOGSOURCE}: the logsource is not one SentinelOne telemetry "
                    f"is mapped for (supported categories: {', '.join(CATEGORIES)})"
                ),
                rule_condition_linking=any,
                rule_condition_negation=True,
                rule_conditions=supported,  # type: ignore[arg-type]
            ),
        ],
    )
