"""The EQL grammar at work: lark parses the text, `_ToAst` turns the tree into `ast.py` nodes.

`parser.parse` is the entry point (it memoises the results); this module is
imported only when a query is not in its memo, so a run whose rules all come from the rule
cache (`rule_cache.py`) never imports lark (start-up time).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from connector.detection.eql import ast
from connector.detection.eql.literals import parse_duration_ms, unescape
from connector.detection.eql.unsupported import find_unsupported
from connector.errors import RuleError

__all__ = ["MAX_RUNS", "parse_text"]

MAX_RUNS = 100


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("connector.detection.eql").joinpath("eql.lark").read_text("utf-8")
    # `cache=True`: lark keeps the analysed grammar in a temporary file, so a new process
    # loads it instead of rebuilding the LALR tables (start-up time).
    return Lark(grammar, parser="lalr", maybe_placeholders=False, cache=True)


def parse_text(query: str, source: str, line_offset: int) -> ast.Query:
    """Parse `query` with the grammar (see `parser.parse`, which memoises this)."""
    lines = query.splitlines() or [""]

    def error(message: str, line: int, column: int) -> RuleError:
        shown = lines[line - 1] if 0 < line <= len(lines) else ""
        return RuleError(message, source=source, line=line + line_offset, column=column, text=shown)

    found = find_unsupported(query)
    if found is not None:
        raise error(found.message, found.line, found.column)
    try:
        tree = _parser().parse(query)
        body, pipes = _ToAst().transform(tree)
    except UnexpectedInput as exc:
        raise error(_describe(exc), *_position(exc, lines)) from exc
    except VisitError as exc:
        if isinstance(exc.orig_exc, _SemanticError):
            err = exc.orig_exc
            raise error(err.message, err.line, err.column) from exc
        raise
    return ast.Query(body=body, pipes=tuple(pipes), source=source, text=query)


def _position(exc: UnexpectedInput, lines: list[str]) -> tuple[int, int]:
    if isinstance(exc, UnexpectedEOF) or exc.line < 1:
        return len(lines), len(lines[-1]) + 1
    return exc.line, exc.column


def _describe(exc: UnexpectedInput) -> str:
    if isinstance(exc, UnexpectedCharacters):
        char = exc.char
        if char == "'":
            return "use double quotes for strings, not single quotes"
        if char == "=":
            return "use == for equality, not ="
        return f"unexpected character {char!r}"
    if isinstance(exc, UnexpectedEOF):
        return "the query ends too early"
    token = getattr(exc, "token", None)
    if isinstance(token, Token):
        if token.type == "$END":
            return "the query ends too early"
        if token.value == "=":
            return "use == for equality, not ="
        return f"unexpected {token.value!r}"
    return "syntax error"


class _SemanticError(Exception):
    """Raised inside the transformer; converted to RuleError with the query's position."""

    def __init__(self, message: str, token: Token | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = token.line if token is not None and token.line else 1
        self.column = token.column if token is not None and token.column else 1


_BOOL_LITERALS = {"true": True, "false": False}


def _unquote_field(name: str) -> str:
    if "`" not in name:
        return name
    parts: list[str] = []
    current = ""
    quoted = False
    i = 0
    while i < len(name):
        char = name[i]
        if char == "`":
            if quoted and name[i + 1 : i + 2] == "`":
                current += "`"
                i += 2
                continue
            quoted = not quoted
        elif char == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
        i += 1
    parts.append(current)
    return ".".join(parts)


@dataclass(frozen=True)
class _Keys:
    """`by` keys while the tree is transformed."""

    keys: tuple[ast.Expr, ...]


@dataclass(frozen=True)
class _Param:
    """A `with name=value` parameter (maxspan in ms, or runs)."""

    name: str
    value: int
    token: Token


@dataclass(frozen=True)
class _Until:
    """The `until` stage of a sequence."""

    stage: ast.SequenceStage


@dataclass
class _Head:
    """What follows `sequence`: shared keys and maxspan."""

    by: tuple[ast.Expr, ...] = ()
    maxspan_ms: int | None = None


@v_args(inline=True)
class _ToAst(Transformer[Token, tuple[ast.EventQuery | ast.Sequence, list[ast.Pipe]]]):
    """Turns lark's parse tree into AST nodes (one method per grammar alias)."""

    # --- literals and fields ---------------------------------------------------------
    def string(self, token: Token) -> ast.Literal:
        try:
            return ast.Literal(unescape(token.value[1:-1]))
        except ValueError as exc:
            raise _SemanticError(str(exc), token) from exc

    def raw_string(self, token: Token) -> ast.Literal:
        return ast.Literal(token.value[3:-3])

    def number(self, token: Token) -> ast.Literal:
        text = token.value
        if any(c in text for c in ".eE"):
            return ast.Literal(float(text))
        return ast.Literal(int(text))

    def true(self) -> ast.Literal:
        return ast.Literal(True)

    def false(self) -> ast.Literal:
        return ast.Literal(False)

    def null(self) -> ast.Literal:
        return ast.Literal(None)

    def field(self, token: Token) -> ast.Field:
        return ast.Field(_unquote_field(token.value))

    def optional_field(self, token: Token) -> ast.Field:
        return ast.Field(_unquote_field(token.value), optional=True)

    # --- operators -------------------------------------------------------------------
    def compare(self, left: ast.Expr, op: Token, right: ast.Expr) -> ast.Compare:
        return ast.Compare(left, op.value, right)

    def in_(self, value: ast.Expr, options: tuple[ast.Expr, ...]) -> ast.In:
        return ast.In(value, options)

    def in_insensitive(self, value: ast.Expr, options: tuple[ast.Expr, ...]) -> ast.In:
        return ast.In(value, options, case_insensitive=True)

    def not_in(self, value: ast.Expr, options: tuple[ast.Expr, ...]) -> ast.Not:
        return ast.Not(ast.In(value, options))

    def not_in_insensitive(self, value: ast.Expr, options: tuple[ast.Expr, ...]) -> ast.Not:
        return ast.Not(ast.In(value, options, case_insensitive=True))

    def seq_match(self, value: ast.Expr, patterns: tuple[ast.Expr, ...]) -> ast.StringMatch:
        return ast.StringMatch(value, ":", patterns, case_insensitive=True)

    def like(self, value: ast.Expr, patterns: tuple[ast.Expr, ...]) -> ast.StringMatch:
        return ast.StringMatch(value, "like", patterns)

    def like_insensitive(self, value: ast.Expr, patterns: tuple[ast.Expr, ...]) -> ast.StringMatch:
        return ast.StringMatch(value, "like", patterns, case_insensitive=True)

    def regex(self, value: ast.Expr, patterns: tuple[ast.Expr, ...]) -> ast.StringMatch:
        return ast.StringMatch(value, "regex", patterns)

    def regex_insensitive(self, value: ast.Expr, patterns: tuple[ast.Expr, ...]) -> ast.StringMatch:
        return ast.StringMatch(value, "regex", patterns, case_insensitive=True)

    def patterns(self, *items: ast.Expr) -> tuple[ast.Expr, ...]:
        return tuple(items)

    def expr_list(self, *items: ast.Expr) -> tuple[ast.Expr, ...]:
        return tuple(items)

    def add(self, left: ast.Expr, right: ast.Expr) -> ast.Arithmetic:
        return ast.Arithmetic("+", left, right)

    def sub(self, left: ast.Expr, right: ast.Expr) -> ast.Arithmetic:
        return ast.Arithmetic("-", left, right)

    def mul(self, left: ast.Expr, right: ast.Expr) -> ast.Arithmetic:
        return ast.Arithmetic("*", left, right)

    def div(self, left: ast.Expr, right: ast.Expr) -> ast.Arithmetic:
        return ast.Arithmetic("/", left, right)

    def mod(self, left: ast.Expr, right: ast.Expr) -> ast.Arithmetic:
        return ast.Arithmetic("%", left, right)

    def negate(self, operand: ast.Expr) -> ast.Expr:
        # Fold `-1` into a literal so that comparisons against constants stay simple.
        value = operand.value if isinstance(operand, ast.Literal) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return ast.Literal(-value)
        return ast.Negate(operand)

    def not_(self, operand: ast.Expr) -> ast.Not:
        return ast.Not(operand)

    def and_expr(self, *terms: ast.Expr) -> ast.And:
        return ast.And(_flatten(ast.And, terms))

    def or_expr(self, *terms: ast.Expr) -> ast.Or:
        return ast.Or(_flatten(ast.Or, terms))

    def function(self, name: Token, *rest: Token | tuple[ast.Expr, ...]) -> ast.FunctionCall:
        insensitive = False
        args: tuple[ast.Expr, ...] = ()
        for item in rest:
            if isinstance(item, tuple):
                args = item
            elif item == "~":
                insensitive = True
        return ast.FunctionCall(name.value.lower(), args, case_insensitive=insensitive)

    # --- queries ---------------------------------------------------------------------
    def category(self, token: Token) -> tuple[str | None, Token]:
        try:
            name = unescape(token.value[1:-1]) if token.type == "STRING" else token.value
        except ValueError as exc:
            raise _SemanticError(str(exc), token) from exc
        return (None if name == "any" else name), token

    def event_query(
        self, category: tuple[str | None, Token], condition: ast.Expr
    ) -> ast.EventQuery:
        name, token = category
        return ast.EventQuery(name, condition, line=token.line or 1, column=token.column or 1)

    def join_keys(self, *keys: ast.Expr) -> _Keys:
        return _Keys(tuple(keys))

    def seq_param(self, name: Token, value: Token, unit: Token | None = None) -> _Param:
        param = name.value.lower()
        if param == "maxspan":
            if unit is None:
                raise _SemanticError("maxspan needs a time unit (ms, s, m, h, d)", value)
            try:
                return _Param("maxspan", parse_duration_ms(value.value, unit.value), name)
            except ValueError as exc:
                raise _SemanticError(str(exc), unit) from exc
        if param == "runs":
            if unit is not None or not value.value.isdigit():
                raise _SemanticError("runs takes a whole number", value)
            runs = int(value.value)
            if not 1 <= runs <= MAX_RUNS:
                raise _SemanticError(f"runs must be between 1 and {MAX_RUNS}, got {runs}", value)
            return _Param("runs", runs, name)
        raise _SemanticError(f"unknown parameter {name.value!r} (expected maxspan or runs)", name)

    def stage(self, query: ast.EventQuery, *extra: _Keys | _Param) -> ast.SequenceStage:
        by: tuple[ast.Expr, ...] = ()
        runs = 1
        for item in extra:
            if isinstance(item, _Keys):
                by = item.keys
            elif item.name == "runs":
                runs = item.value
            else:
                raise _SemanticError("maxspan belongs after `sequence`, not on a stage", item.token)
        return ast.SequenceStage(query, by, runs)

    def until(self, stage: ast.SequenceStage) -> _Until:
        return _Until(stage)

    def seq_head(self, *parts: _Keys | _Param) -> _Head:
        head = _Head()
        for item in parts:
            if isinstance(item, _Keys):
                head.by = item.keys
            elif item.name == "runs":
                raise _SemanticError("runs belongs on a stage, not after `sequence`", item.token)
            else:
                head.maxspan_ms = item.value
        return head

    def sequence(self, head: _Head, *items: ast.SequenceStage | _Until) -> ast.Sequence:
        stages = tuple(i for i in items if isinstance(i, ast.SequenceStage))
        until = next((i.stage for i in items if isinstance(i, _Until)), None)
        if sum(stage.runs for stage in stages) < 2:
            raise _SemanticError(
                "a sequence needs at least two stages (or one stage with runs >= 2)",
                _stage_token(stages[0]),
            )
        _check_join_key_counts(stages, until)
        return ast.Sequence(by=head.by, maxspan_ms=head.maxspan_ms, stages=stages, until=until)

    def pipe(self, name: Token, count: Token | None = None) -> ast.Pipe:
        if name.value not in ("head", "tail"):
            raise _SemanticError(f"pipe `| {name.value}` is not supported", name)
        if count is None or not count.value.isdigit():
            raise _SemanticError(f"pipe `| {name.value}` needs a whole number", name)
        return ast.Pipe(name.value, int(count.value), line=name.line or 1, column=name.column or 1)

    def start(
        self, body: ast.EventQuery | ast.Sequence, *pipes: ast.Pipe
    ) -> tuple[ast.EventQuery | ast.Sequence, list[ast.Pipe]]:
        return body, list(pipes)


def _flatten(
    kind: type[ast.And] | type[ast.Or], terms: tuple[ast.Expr, ...]
) -> tuple[ast.Expr, ...]:
    out: list[ast.Expr] = []
    for term in terms:
        if isinstance(term, kind):
            out.extend(term.terms)
        else:
            out.append(term)
    return tuple(out)


def _check_join_key_counts(
    stages: tuple[ast.SequenceStage, ...], until: ast.SequenceStage | None
) -> None:
    """Elasticsearch requires every stage (and until) to have the same number of `by` keys."""
    every = (*stages, until) if until is not None else stages
    counts = {len(stage.by) for stage in every}
    if len(counts) > 1:
        first = len(stages[0].by)
        for stage in every:
            if len(stage.by) != first:
                raise _SemanticError(
                    f"inconsistent number of join keys: expected {first}, found {len(stage.by)}",
                    _stage_token(stage),
                )


def _stage_token(stage: ast.SequenceStage) -> Token:
    return Token("STAGE", "[", line=stage.query.line, column=stage.query.column)
