"""Sources: SentinelOne telemetry for a time window, as raw records plus counters.

| module               | what it provides                                                     |
|----------------------|----------------------------------------------------------------------|
| `base`               | the `Source` protocol, `SourceStats`, `RawRecord`, `Shape`           |
| `http`               | `HttpClient`: session, auth, pacing, the one retry policy            |
| `deep_visibility`    | `DeepVisibilitySource` (DV v2.1 init-query / status / pages / cancel) |
| `sdl`                | `SdlSource` (SDL v2 long-running queries, LOG or PQ)                 |
| `cloud_funnel`       | `CloudFunnelSource` (gzip NDJSON from a folder or S3)                |
| `files`              | `FileSource` (replay: DV bodies, NDJSON, `.gz`, folders)             |
| `query`              | `Pushdown`, `Prefilter` (what a source is asked to fetch)            |
| `pushdown`           | `build_pushdown(rules)`: rules → S1QL / SDL filter / prefilter       |

Modules are imported directly (`from connector.sources.sdl import SdlSource`) so that a
source pulls in only what it needs (boto3 and the rule parser stay optional).
"""
