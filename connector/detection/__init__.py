"""Detection: EQL rules (Elastic detection-rules TOML) evaluated over flat ECS events.

| module          | role                                                                  |
|-----------------|-----------------------------------------------------------------------|
| `model`         | `Rule`, `Match`, `Event`: the plain data other stages depend on       |
| `eql/`          | grammar (`eql.lark`), `ast`, `parser`, and the compiler to predicates |
| `program`       | a rule compiled for the engine (stages, join keys, runs, until)       |
| `anchors`       | exact-value tests used to index stages                                |
| `stages`        | category/anchor dispatch and join keys                                |
| `sequence`      | the sequence state machine (Elasticsearch semantics)                  |
| `timestamps`    | timestamp units and event positions                                   |
| `engine`        | runs all rules over an event stream; `persist` saves its state        |
| `rules`         | reading rule files; `check` validates them for `rules check`          |
"""
