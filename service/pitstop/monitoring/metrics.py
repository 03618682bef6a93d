"""Prometheus metrics of the monitoring status.

A custom collector, which the API adds to its scrape (``pitstop.api.metrics.register_collector``):
each scrape of ``GET /metrics`` reads the latest status the API computed (cached; computing it
is a DuckDB pass per view, not something to do per scrape), so the values never go stale
behind a stopped updater.

=============================================  ==========================================
metric                                         labels
=============================================  ==========================================
pitstop_feature_view_newest_timestamp_seconds  view, store (offline | online)
pitstop_feature_psi                            view, feature
pitstop_feature_null_rate                      view, feature
pitstop_feature_skew_rate                      view, feature, kind (stale | wrong)
pitstop_monitoring_status                      scope (overall | view name); 0 ok, 1 warn, 2 error
=============================================  ==========================================

``monitoring/alerts.yml`` holds alert rules on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from pitstop.monitoring.status import MonitoringStatus
from pitstop.monitoring.statuses import EXIT_CODES


class MonitoringCollector:
    """Yields the metrics of whatever ``latest()`` returns (None: nothing yet)."""

    def __init__(self, latest: Callable[[], MonitoringStatus | None]) -> None:
        self._latest = latest

    def describe(self) -> list[Any]:
        return []  # metrics are known only once a status exists; no registration-time check

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        status = self._latest()
        if status is None:
            return
        newest = GaugeMetricFamily(
            "pitstop_feature_view_newest_timestamp_seconds",
            "Event timestamp of the newest snapshot of a feature view, per store (Unix s).",
            labels=["view", "store"],
        )
        psi = GaugeMetricFamily(
            "pitstop_feature_psi",
            "PSI of a feature: last 7 daily snapshots vs the training-set baseline.",
            labels=["view", "feature"],
        )
        nulls = GaugeMetricFamily(
            "pitstop_feature_null_rate",
            "Share of null values in the window.",
            labels=["view", "feature"],
        )
        skew = GaugeMetricFamily(
            "pitstop_feature_skew_rate",
            "Share of logged served values differing from the offline recomputation.",
            labels=["view", "feature", "kind"],
        )
        overall = GaugeMetricFamily(
            "pitstop_monitoring_status",
            "Monitoring status: 0 ok, 1 warn (or insufficient data), 2 error.",
            labels=["scope"],
        )
        overall.add_metric(["overall"], EXIT_CODES[status.status])
        for view, item in status.views.items():
            overall.add_metric([view], EXIT_CODES[item.status])
            for store in item.freshness.stores:
                if store.newest_event_timestamp is not None:
                    newest.add_metric([view, store.store], store.newest_event_timestamp.timestamp())
            for feature, measured in item.features.items():
                if measured.drift.psi is not None:
                    psi.add_metric([view, feature], measured.drift.psi)
                if measured.null_rate is not None:
                    nulls.add_metric([view, feature], measured.null_rate)
                if measured.skew is not None and measured.skew.rows:
                    skew.add_metric([view, feature, "stale"], measured.skew.stale_rate or 0.0)
                    skew.add_metric([view, feature, "wrong"], measured.skew.wrong_rate or 0.0)
        yield from (newest, psi, nulls, skew, overall)
