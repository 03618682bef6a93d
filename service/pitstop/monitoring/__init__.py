"""Monitoring: freshness, profiles, PSI drift against a training-set baseline, serving logs and
training/serving skew, as a terminal table, JSON, an HTML page and Prometheus metrics.

    from pitstop.monitoring import compute_status, create_baseline
    create_baseline(settings, Path("train.parquet"))
    status = compute_status(settings)
    status.status, status.to_json()

Modules, one job each: :mod:`.profiles` (one DuckDB pass per table: per-day profiles on fixed
bins), :mod:`.baseline`, :mod:`.drift` (PSI), :mod:`.freshness` (+ dbt's signals),
:mod:`.serving_log` (sampled lookups to Parquet), :mod:`.skew`, :mod:`.status` (the combined
JSON), :mod:`.report` (terminal table, HTML), :mod:`.metrics` (Prometheus).
"""

from pitstop.monitoring.baseline import Baseline, create_baseline, load_baseline
from pitstop.monitoring.serving_log import ServingLogger
from pitstop.monitoring.status import MonitoringStatus, compute_status
from pitstop.monitoring.statuses import EXIT_CODES

__all__ = [
    "EXIT_CODES",
    "Baseline",
    "MonitoringStatus",
    "ServingLogger",
    "compute_status",
    "create_baseline",
    "load_baseline",
]
