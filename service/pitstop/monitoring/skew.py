"""Training/serving skew: logged online values recomputed through the offline path.

Each sampled lookup of a feature service (:mod:`.serving_log`) becomes an entity row (its join
keys, ``event_timestamp`` = the logged request time) of a training set built by
:func:`pitstop.offline.build_training_set`, with each view's source timestamp: the value the
model would have been trained on for that very request. Per feature, a served value that differs
from it is

- **stale** when the served snapshot is older than the newest snapshot at request time (or the
  entity was missing online): the online store lags; materialize is late or failed;
- **wrong** when it is a different value for the same snapshot (or a snapshot that should not
  exist): the two paths compute different things, a bug that no freshness check catches.

A wrong value is an ``error`` at any rate; stale values ``warn`` from 1 % and are an ``error``
from 10 %. Not compared (counted in ``unchecked``): lookups by feature refs instead of a
service, and values served past their view's coverage plus the grace, which the API serves only
with ``PITSTOP_ONLINE_TTL=off`` and the offline path answers null (:mod:`pitstop.coverage`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pitstop import coverage, spill
from pitstop.monitoring.baseline import ViewSpec
from pitstop.monitoring.serving_log import serving_log_files
from pitstop.monitoring.statuses import Status
from pitstop.settings import Settings
from pitstop.sql import literal

STALE_WARN = 0.01
STALE_ERROR = 0.10


@dataclass(frozen=True)
class Skew:
    rows: int
    stale: int
    wrong: int

    @property
    def stale_rate(self) -> float | None:
        return self.stale / self.rows if self.rows else None

    @property
    def wrong_rate(self) -> float | None:
        return self.wrong / self.rows if self.rows else None

    @property
    def status(self) -> Status:
        if not self.rows:
            return "skipped"
        if self.wrong:
            return "error"
        rate = self.stale / self.rows
        return "error" if rate >= STALE_ERROR else "warn" if rate >= STALE_WARN else "ok"

    def to_json(self) -> dict[str, float | None]:
        return {"stale_rate": self.stale_rate, "wrong_rate": self.wrong_rate}


@dataclass(frozen=True)
class SkewReport:
    # view -> feature -> Skew
    features: dict[str, dict[str, Skew]]
    # Sampled entity rows (one lookup of n entities is n rows) and values not recomputed.
    lookups: int = 0
    unchecked: int = 0
    note: str = ""


def compute_skew(
    settings: Settings,
    views: Mapping[str, ViewSpec],
    since: dt.datetime,
    until: dt.datetime,
) -> SkewReport:
    """Compare the serving logs of [since, until] with their offline recomputation."""
    files = serving_log_files(settings.serving_logs_dir)
    if not files:
        return SkewReport(features={}, note="no serving logs")
    listing = "[" + ", ".join(literal(path) for path in files) + "]"
    with spill.connect() as connection:
        rows = connection.execute(
            f"SELECT * FROM read_parquet({listing}) WHERE request_time BETWEEN $since AND $until",
            {"since": since, "until": until},
        ).fetchall()
        columns = [column[0] for column in connection.description or []]
    logged = [dict(zip(columns, row, strict=True)) for row in rows]
    owner = _feature_owners(views)
    by_service: dict[str, list[dict[str, Any]]] = {}
    unchecked = 0
    for row in logged:
        if row["feature_service"] and row["feature"] in owner:
            by_service.setdefault(row["feature_service"], []).append(row)
        else:
            unchecked += 1
    counts: dict[tuple[str, str], list[int]] = {}
    stale_from = {
        view: coverage.stale_after(covered_until, settings.freshness_hours)
        for view, covered_until in coverage.read(settings.features_dir).items()
    }
    for service, service_rows in by_service.items():
        offline = _recompute(settings, service, service_rows)
        for row in service_rows:
            view, feature = owner[row["feature"]]
            served_at = row["event_timestamp"]
            found = offline.get((row["entity_key"], row["request_time"]))
            offline_value = _as_number(found.get(feature)) if found else None
            offline_at = found.get(f"{view}__event_timestamp") if found else None
            # served past the coverage (ttl off), where the offline path has no value
            past_coverage = view in stale_from and row["request_time"] > stale_from[view]
            if found and offline_at is None and past_coverage and row["value"] is not None:
                unchecked += 1
                continue
            tally = counts.setdefault((view, feature), [0, 0, 0])
            tally[0] += 1
            if _same(row["value"], offline_value):
                continue
            if served_at is None or (offline_at is not None and served_at < offline_at):
                tally[1] += 1
            else:
                tally[2] += 1
    features: dict[str, dict[str, Skew]] = {}
    for (view, feature), (total, stale, wrong) in counts.items():
        features.setdefault(view, {})[feature] = Skew(rows=total, stale=stale, wrong=wrong)
    return SkewReport(
        features=features,
        lookups=len({(row["entity_key"], row["request_time"]) for row in logged}),
        unchecked=unchecked,
    )


def _feature_owners(views: Mapping[str, ViewSpec]) -> dict[str, tuple[str, str]]:
    """Response feature name (bare or ``view__feature``) -> (view, feature)."""
    owners: dict[str, tuple[str, str]] = {}
    for spec in views.values():
        for name in spec.features:
            owners.setdefault(name, (spec.name, name))
            owners[f"{spec.name}__{name}"] = (spec.name, name)
    return owners


def _recompute(
    settings: Settings,
    service: str,
    rows: list[dict[str, Any]],
) -> dict[tuple[str, dt.datetime], dict[str, Any]]:
    """The offline values of each logged (entity key, request time), via the training path."""
    import pandas as pd

    from pitstop.offline import build_training_set

    lookups = sorted({(row["entity_key"], row["request_time"]) for row in rows}, key=str)
    keys = [json.loads(key) for key, _ in lookups]
    frame = pd.DataFrame(keys)
    # Every lookup of a service has each of its join keys on every row: a column some logged
    # keys lack is no join key of this service (an extra entity column sent with a lookup, as
    # logs written before the API dropped those kept).
    frame = frame.loc[:, frame.notna().all()]
    for column in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].astype("int64")
    frame["event_timestamp"] = pd.to_datetime([at for _, at in lookups], utc=True)
    with tempfile.TemporaryDirectory(prefix="pitstop-skew-") as folder:
        entities = Path(folder) / "entities.parquet"
        out = Path(folder) / "offline.parquet"
        frame.to_parquet(entities, index=False)
        build_training_set(
            settings,
            feature_service=service,
            entities=entities,
            out=out,
            echo=lambda _line: None,
            source_timestamps=True,
        )
        result = pd.read_parquet(out)
    records = result.to_dict("records")
    return {(key, at): _plain(record) for (key, at), record in zip(lookups, records, strict=True)}


def _plain(record: Mapping[str, Any]) -> dict[str, Any]:
    """pandas values as Python: NA -> None, Timestamps -> aware datetimes."""
    import pandas as pd

    plain: dict[str, Any] = {}
    for name, value in record.items():
        if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)):
            plain[str(name)] = None
        elif isinstance(value, pd.Timestamp):
            plain[str(name)] = value.to_pydatetime()
        else:
            plain[str(name)] = value
    return plain


def _as_number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _same(served: float | None, offline: float | None) -> bool:
    if served is None or offline is None:
        return served is None and offline is None
    return math.isclose(served, offline, rel_tol=1e-9, abs_tol=1e-9)
