"""pySigma's Elasticsearch EQL backend, adjusted to produce EQL this engine (and Elasticsearch)
reads exactly as the Sigma rule means it. A subclass: the library itself is never patched.

* `any where …` → `process where …` (the category the pipeline put in its state).
* A literal `*` / `?` (Sigma `\\*`) was emitted as `"\\*"`, a bad EQL escape → a `regex~`
  with the literal escaped.
* `|re` was passed through (PCRE groups, unanchored, `"` unescaped, always `regex~`) →
  `regex.to_lucene`: Lucene syntax, `.*` around it unless anchored, `regex` or `regex~` by
  the rule's flags.
* `|cased` was `==` (no wildcards in EQL `==`) → `like` (case-sensitive wildcards).
* temporal_ordered gave `[any where a] [any where b] with runs=2` →
  `sequence by k with maxspan=T [process where a] [network where b]`.
* event_count `[any where a] with runs=N` is kept only for `gte` over one rule (exactly N
  matching events complete it); other operators are rejected.
* temporal (unordered) and value_count correlations are rejected with a reason.

Imports pySigma: only `convert.py` imports this, when a Sigma rule is loaded.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sigma.backends.elasticsearch.elasticsearch_eql import EqlBackend
from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationConditionOperator, SigmaCorrelationRule
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.rule import SigmaRule
from sigma.types import (
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from connector.detection.sigma.regex import eql_string, to_lucene, wildcard_to_lucene

__all__ = ["S1EqlBackend"]


def _has_literal_wildcard(value: object) -> bool:
    return isinstance(value, SigmaString) and any(
        isinstance(part, str) and ("*" in part or "?" in part) for part in value.s
    )


class S1EqlBackend(EqlBackend):
    """EQL for this product's engine; see the module docstring for every difference."""

    case_sensitive_match_expression: ClassVar[str | None] = "{field} like {value}"
    temporal_ordered_correlation_query: ClassVar[dict[str, str]] = {
        "sequence": "sequence {groupby} with maxspan={timespan}\n {search}"
    }
    event_count_correlation_query: ClassVar[dict[str, str]] = {
        "sequence": "sequence {groupby} with maxspan={timespan}\n {search} {condition}"
    }

    def finalize_query_default(
        self, rule: SigmaRule, query: str, index: int, state: ConversionState
    ) -> str:
        if isinstance(rule, SigmaCorrelationRule):
            return query
        return f"{state.processing_state.get('category', 'any')} where {query}"

    # --- values -----------------------------------------------------------------------------

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        args = getattr(cond, "args", ())
        if any(
            isinstance(arg, ConditionFieldEqualsValueExpression)
            and _has_literal_wildcard(arg.value)
            for arg in args
        ):
            return False
        return bool(super().decide_convert_condition_as_in_expression(cond, state))

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        value = cond.value
        if not isinstance(value, SigmaString) or not _has_literal_wildcard(value):
            return super().convert_condition_field_eq_val_str(cond, state)
        parts: list[str | None] = []
        for part in value.s:
            if part == SpecialChars.WILDCARD_MULTI:
                parts.append(None)
            elif part == SpecialChars.WILDCARD_SINGLE:
                parts.append("")
            elif isinstance(part, str):
                parts.append(part)
            else:
                raise SigmaFeatureNotSupportedByBackendError(f"placeholder {part!r} in a value")
        field = self.escape_and_quote_field(cond.field)
        return f"{field} regex~ {eql_string(wildcard_to_lucene(parts))}"

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        value = cond.value
        assert isinstance(value, SigmaRegularExpression)
        ignore_case = SigmaRegularExpressionFlag.IGNORECASE in value.flags
        try:
            pattern, ignore_case = to_lucene(value.regexp.original, ignore_case)
        except ValueError as exc:
            raise SigmaFeatureNotSupportedByBackendError(
                f"regular expression {value.regexp.original!r}: {exc}"
            ) from exc
        operator = "regex~" if ignore_case else "regex"
        return f"{self.escape_and_quote_field(cond.field)} {operator} {eql_string(pattern)}"

    def convert_condition_field_eq_field(self, cond: Any, state: ConversionState) -> Any:
        raise SigmaFeatureNotSupportedByBackendError(
            "field references (`|fieldref`: one field compared with another) are not "
            "expressible in EQL"
        )

    # --- correlations -----------------------------------------------------------------------

    def convert_correlation_search(self, rule: SigmaCorrelationRule, **kwargs: Any) -> str:
        """One `[category where query]` stage per referenced rule, in the order listed."""
        stages = []
        for reference in rule.referenced_rules:
            base = reference.rule
            states = base.get_conversion_states()
            for query, state in zip(base.get_conversion_result(), states, strict=True):
                category = state.processing_state.get("category", "any")
                stages.append(f"[{category} where {query}]")
        return "\n ".join(stages)

    def convert_correlation_event_count_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "default"
    ) -> list[str]:
        condition = rule.condition
        if getattr(condition, "op", None) != SigmaCorrelationConditionOperator.GTE:
            raise SigmaFeatureNotSupportedByBackendError(
                "event_count correlations are converted only for `gte` (a sequence of N "
                "matching events); other operators need counting the engine does not do"
            )
        if len(rule.referenced_rules) != 1:
            raise SigmaFeatureNotSupportedByBackendError(
                "event_count correlations over more than one rule are not supported"
            )
        return super().convert_correlation_event_count_rule(rule, output_format, method)

    def convert_correlation_temporal_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "default"
    ) -> list[str]:
        raise SigmaFeatureNotSupportedByBackendError(
            "temporal (unordered) correlations are not supported: an EQL sequence imposes an "
            "order and `sample` is not evaluated; use temporal_ordered"
        )

    def convert_correlation_value_count_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "default"
    ) -> list[str]:
        raise SigmaFeatureNotSupportedByBackendError(
            "value_count correlations are not supported: counting distinct values is not "
            "expressible as an exact EQL sequence"
        )
