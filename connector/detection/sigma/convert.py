"""Convert one Sigma file (rules and correlation rules) into engine `Rule`s, each with a verdict.

`convert_text(text, source)` is the only entry point that imports pySigma. Each YAML document
gives one `Converted`: a `Rule` whose `query` is the EQL, and either nothing wrong, a
`skipped` reason (valid Sigma this product cannot run exactly: a logsource S1 telemetry is not
mapped for, a backend feature EQL lacks, or telemetry S1 does not have — found by folding the
converted query against the mapped-field catalog), or an `error` (invalid Sigma).

A Sigma rule referenced by a correlation rule is not emitted on its own unless the rule says
`generate: true` (Sigma's convention), only as a stage of the correlation.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from connector.detection.eql.parser import parse
from connector.detection.fold import fold_condition
from connector.detection.model import Rule
from connector.detection.program import compile_query
from connector.detection.sigma.fields import sigma_name
from connector.detection.sigma.metadata import rule_metadata
from connector.errors import RuleError

__all__ = ["Converted", "convert_text"]


@dataclass(frozen=True)
class Converted:
    """One Sigma document's outcome. `rule.query` is the EQL ("" if conversion failed)."""

    rule: Rule
    skipped: str = ""
    error: str = ""


def convert_text(text: str, source: str, produced: Collection[str]) -> list[Converted]:
    """Convert every document of a Sigma file; `produced` = fields the mapping writes."""
    # pySigma is imported here, on the first conversion, never at start-up.
    from sigma.collection import SigmaCollection  # noqa: PLC0415
    from sigma.correlations import SigmaCorrelationRule  # noqa: PLC0415
    from sigma.exceptions import (  # noqa: PLC0415
        SigmaError,
        SigmaFeatureNotSupportedByBackendError,
        SigmaTransformationError,
    )
    from sigma.rule import SigmaRule  # noqa: PLC0415

    from connector.detection.sigma.backend import S1EqlBackend  # noqa: PLC0415
    from connector.detection.sigma.pipeline import s1_pipeline  # noqa: PLC0415

    documents = _documents(text, source)
    try:
        collection = SigmaCollection.from_dicts(documents, collect_errors=True)
        collection.resolve_rule_references()
    except (SigmaError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise RuleError(f"invalid Sigma file: {exc}", source=source) from exc
    # pySigma's backends signal some unsupported constructs with NotImplementedError.
    unsupported = (
        SigmaFeatureNotSupportedByBackendError,
        SigmaTransformationError,
        NotImplementedError,  # raised by pySigma itself, not by this module
    )
    out: list[Converted] = []
    for index, item in enumerate(collection.rules):
        rule = Rule(query="", source=source, language="eql", **rule_metadata(item, source, index))
        if item.errors:
            out.append(Converted(rule, error="; ".join(str(e) for e in item.errors)))
            continue
        if not isinstance(item, SigmaCorrelationRule) and not item._output:
            continue  # only a stage of a correlation rule in this file
        backend = S1EqlBackend(s1_pipeline())
        try:
            if isinstance(item, SigmaCorrelationRule):
                for reference in item.referenced_rules:
                    if not isinstance(reference.rule, SigmaRule):
                        raise SigmaFeatureNotSupportedByBackendError("correlations of correlations")
                    backend.convert_rule(reference.rule)
                queries = backend.convert_correlation_rule(item)
            else:
                queries = backend.convert_rule(item)
        except unsupported as exc:  # valid Sigma this product cannot run exactly
            out.append(Converted(rule, skipped=_reason(exc)))
            continue
        except SigmaError as exc:  # an invalid rule (bad condition, modifier, value…)
            out.append(Converted(rule, error=_reason(exc)))
            continue
        except Exception as exc:  # pySigma failing on odd input must not end the whole load
            message = f"pySigma could not convert it ({type(exc).__name__}: {exc})"
            out.append(Converted(rule, error=message))
            continue
        if len(queries) != 1:
            out.append(Converted(rule, skipped="a rule with several conditions is not supported"))
            continue
        out.append(_verdict(rule, queries[0], produced))
    return out


def _documents(text: str, source: str) -> list[dict[str, Any]]:
    """The file's YAML documents; RuleError with the line and column for bad YAML or a
    document that is not a mapping (pySigma itself would fail with an AttributeError)."""
    import yaml  # noqa: PLC0415 - pySigma's own YAML library, loaded with it

    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = {"line": mark.line + 1, "column": mark.column + 1} if mark is not None else {}
        problem = getattr(exc, "problem", None) or exc
        raise RuleError(f"invalid YAML: {problem}", source=source, **where) from exc
    for number, document in enumerate(documents, start=1):
        if not isinstance(document, dict):
            kind = type(document).__name__
            raise RuleError(f"YAML document {number} is a {kind}, not a Sigma rule", source=source)
    return documents


def _reason(exc: Exception) -> str:
    text = str(exc).split(" (while ")[0]
    marker = "s1_unsupported_logsource: "
    return text[text.index(marker) + len(marker) :] if marker in text else text


def _verdict(rule: Rule, query: str, produced: Collection[str]) -> Converted:
    """Check the EQL compiles, then fold each stage against the produced fields."""
    rule = Rule(**{**rule.__dict__, "query": query})
    try:
        parsed = parse(query, rule.source)
        compile_query(parsed, rule)
    except RuleError as exc:
        return Converted(rule, error=f"converted EQL does not compile: {exc}")
    body = parsed.body
    stages: list[Any] = [body] if not hasattr(body, "stages") else [s.query for s in body.stages]
    for stage in stages:
        folded = fold_condition(stage.condition, produced)
        if folded.value is False:
            names = ", ".join(f"{sigma_name(f)} ({f})" for f in folded.missing)
            return Converted(
                rule,
                skipped=f"can never match SentinelOne data: needs {names}, "
                "which SentinelOne records do not carry",
            )
    return Converted(rule)
