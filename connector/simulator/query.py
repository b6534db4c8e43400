"""Query evaluation for the simulator: S1QL (Deep Visibility) and SDL filters.

`compile_s1ql(query)` and `compile_sdl_filter(expr)` return a predicate over one record (a DV
camelCase event dict, or a Cloud Funnel dotted dict). Both raise `QueryParseError` for any
construct outside the supported subset, so a pushdown the console could not parse fails
loudly in tests instead of silently matching nothing. The languages are described in
`connector.simulator.s1ql` and `connector.simulator.sdl_filter`.
"""

from __future__ import annotations

from connector.simulator.parsing import QueryParseError
from connector.simulator.s1ql import compile_s1ql
from connector.simulator.sdl_filter import compile_sdl_filter

__all__ = ["QueryParseError", "compile_s1ql", "compile_sdl_filter"]
