"""s1-dv-connector: Elastic EQL detections over SentinelOne telemetry, outside any SIEM."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
