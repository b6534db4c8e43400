"""A fake SentinelOne console for demos and tests: Deep Visibility v2.1 and SDL v2 over HTTP.

    from connector.simulator import Simulator, demo_records

    records, planted = demo_records()
    with Simulator(records, token="demo-token", status_delay_s=0) as sim:
        ...  # point the connector at sim.url

| module        | what                                                                  |
|---------------|-----------------------------------------------------------------------|
| `server.py`   | `Simulator`: the threaded HTTP server on 127.0.0.1                    |
| `app.py`      | routing, auth, fault injection, the `/_sim/*` admin endpoint, stats   |
| `dv.py`       | DV init-query / query-status / events / cancel-query                  |
| `sdl.py`      | SDL long-running queries (LOG and PQ)                                 |
| `query.py`    | S1QL and SDL filter evaluation (`s1ql.py`, `sdl_filter.py`, `pq.py`,  |
|               | over the node types of `predicates.py`; `parsing.py` shares errors)   |
| `faults.py`   | `Faults`, `Trigger`: what goes wrong, when, reproducibly              |
| `convert.py`  | Cloud Funnel record → DV event (`dataset.py` keeps both forms)        |
| `scenario.py` | NDJSON scenario files                                                 |
| `demo.py`     | the bundled demo day with planted attack chains and near misses       |
| `request.py`, `responses.py` | transport-free requests, replies, error bodies, the clock |
"""

from __future__ import annotations

from connector.simulator.app import LogEntry
from connector.simulator.demo import DemoScenario, NearMiss, Planted, demo_records, demo_scenario
from connector.simulator.faults import Faults, Trigger
from connector.simulator.query import QueryParseError, compile_s1ql, compile_sdl_filter
from connector.simulator.request import Clock
from connector.simulator.scenario import load_scenario, scenario_records
from connector.simulator.server import Simulator

__all__ = [
    "Clock",
    "DemoScenario",
    "Faults",
    "LogEntry",
    "NearMiss",
    "Planted",
    "QueryParseError",
    "Simulator",
    "Trigger",
    "compile_s1ql",
    "compile_sdl_filter",
    "demo_records",
    "demo_scenario",
    "load_scenario",
    "scenario_records",
]
