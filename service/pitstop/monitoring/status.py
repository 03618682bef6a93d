"""The combined monitoring status: freshness, drift, null rates and skew per feature view.

:func:`compute_status` is what ``pitstop monitor``, ``GET /monitoring/status``, ``GET /status``
and the Prometheus collector share. Its JSON (:meth:`MonitoringStatus.to_json`) is the shape of
issue 7::

    {"status": "ok|warn|error",
     "feature_views": {VIEW: {"freshness": {"status", "newest_event_timestamp", "age_seconds"},
                              "features": {FEATURE: {"drift": {"psi", "status"},
                                                     "null_rate",
                                                     "skew": {"stale_rate", "wrong_rate"}}}}}}

The overall status is the worst of every view's freshness, every feature's drift and skew, and
dbt's last test results; ``insufficient_data`` counts as ``warn``, never as ``ok``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pitstop import coverage, feature_tables, spill
from pitstop.monitoring.baseline import Baseline, ViewSpec, load_baseline, monitored_views
from pitstop.monitoring.drift import Drift, drift
from pitstop.monitoring.freshness import DbtSignals, Freshness, dbt_signals, view_freshness
from pitstop.monitoring.profiles import Bins, Profile, feature_table_sql, profile_rows
from pitstop.monitoring.skew import Skew, SkewReport, compute_skew
from pitstop.monitoring.statuses import Overall, Status, worst
from pitstop.settings import Settings

WINDOW_DAYS = 7


@dataclass(frozen=True)
class FeatureStatus:
    drift: Drift
    null_rate: float | None
    skew: Skew | None
    bins: Bins | None = None
    baseline: Profile | None = None
    current: Profile | None = None
    # Rows per snapshot day in the window, for the page's history.
    daily_rows: dict[str, int] = field(default_factory=dict)

    @property
    def status(self) -> Overall:
        statuses: list[Status] = [self.drift.status]
        if self.skew is not None:
            statuses.append(self.skew.status)
        return worst(statuses)

    def to_json(self) -> dict[str, Any]:
        return {
            "drift": {
                "psi": None if self.drift.psi is None else round(self.drift.psi, 6),
                "status": self.drift.status,
            },
            "null_rate": None if self.null_rate is None else round(self.null_rate, 6),
            "skew": self.skew.to_json() if self.skew else {"stale_rate": None, "wrong_rate": None},
        }


@dataclass(frozen=True)
class ViewStatus:
    freshness: Freshness
    features: dict[str, FeatureStatus]
    window: tuple[dt.datetime, ...] = ()

    @property
    def status(self) -> Overall:
        return worst([self.freshness.status, *(f.status for f in self.features.values())])


@dataclass(frozen=True)
class MonitoringStatus:
    status: Overall
    generated_at: dt.datetime
    views: dict[str, ViewStatus]
    dbt: DbtSignals
    skew: SkewReport
    freshness_hours: float = 24.0
    # Set when there is no drift baseline: what to run (drift is insufficient_data meanwhile).
    baseline_note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "baseline_note": self.baseline_note,
            "feature_views": {
                name: {
                    "freshness": view.freshness.to_json(),
                    "features": {
                        feature: item.to_json() for feature, item in view.features.items()
                    },
                }
                for name, view in self.views.items()
            },
        }


def compute_status(
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    baseline: Baseline | None = None,
    window_days: int = WINDOW_DAYS,
    with_skew: bool = True,
) -> MonitoringStatus:
    """Measure everything once. ``now`` defaults to the current UTC time."""
    now = now or dt.datetime.now(dt.timezone.utc)
    baseline_note = None
    if baseline is None and not settings.baseline_path.is_file():
        # No baseline yet: freshness, null rates and skew still say what they know; drift is
        # insufficient_data for every feature, and the note says what makes a baseline.
        baseline_note = (
            "no drift baseline yet: run `pitstop monitor baseline TRAINING_SET` "
            "(or `pitstop training-set ... --baseline`)"
        )
        baseline = Baseline(views={})
    baseline = baseline or load_baseline(settings)
    dbt = dbt_signals(settings)
    monitored = monitored_views(settings, baseline)
    skew = (
        compute_skew(settings, monitored, now - dt.timedelta(days=window_days), now)
        if with_skew
        else SkewReport(features={}, note="skew not computed")
    )
    views: dict[str, ViewStatus] = {}
    with spill.connect() as connection:
        for name, spec in sorted(monitored.items()):
            views[name] = _view_status(
                settings, connection, spec, baseline, skew, dbt, now, window_days
            )
    statuses: list[Status] = [view.status for view in views.values()]
    statuses.append(dbt.tests_status)
    return MonitoringStatus(
        status=worst(statuses),
        generated_at=now,
        views=views,
        dbt=dbt,
        skew=skew,
        freshness_hours=settings.freshness_hours,
        baseline_note=baseline_note,
    )


def _view_status(
    settings: Settings,
    connection: Any,
    spec: ViewSpec,
    baseline: Baseline,
    skew: SkewReport,
    dbt: DbtSignals,
    now: dt.datetime,
    window_days: int,
) -> ViewStatus:
    path = feature_tables.table_path(settings.features_dir, spec.name)
    newest: dt.datetime | None = None
    columns: list[str] = []
    if feature_tables.is_table(path):
        source = feature_tables.read_sql([feature_tables.glob(path)])
        columns = [
            row[0] for row in connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        ]
        newest = (
            coverage.of_table(path)
            or connection.execute(f"SELECT max(event_timestamp) FROM {source}").fetchall()[0][0]
        )
    freshness = view_freshness(settings, spec.name, newest, now, dbt)
    features = [name for name in spec.numeric_features if name in columns]
    window: tuple[dt.datetime, ...] = ()
    profiles: dict[Any, dict[str, Profile]] = {}
    bins = {}
    for name in features:
        item = baseline.feature(spec.name, name)
        bins[name] = item.bins if item else None
    if newest is not None and features:
        window = tuple(newest - dt.timedelta(days=back) for back in range(window_days - 1, -1, -1))
        sql = feature_table_sql(path, spec.join_key, features, window, spec.ttl)
        profiles = profile_rows(connection, sql, bins)
    current = profiles.get(None, {})
    statuses: dict[str, FeatureStatus] = {}
    for name in features:
        item = baseline.feature(spec.name, name)
        profile = current.get(name)
        statuses[name] = FeatureStatus(
            drift=drift(item.profile if item else None, profile),
            null_rate=profile.null_rate if profile else None,
            skew=skew.features.get(spec.name, {}).get(name),
            bins=item.bins if item else None,
            baseline=item.profile if item else None,
            current=profile,
            daily_rows={
                day.date().isoformat(): day_profiles[name].rows
                for day, day_profiles in profiles.items()
                if day is not None and name in day_profiles
            },
        )
    return ViewStatus(freshness=freshness, features=statuses, window=window)
