"""Detection: EQL rules (Elastic detection-rules TOML) evaluated over flat ECS events."""
