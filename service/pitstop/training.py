"""Training sets: a point-in-time join of an entity file against the feature tables, via Feast.

    from pitstop import Settings
    from pitstop.training import build_training_set

    report = build_training_set(
        Settings.from_env(),
        feature_service="churn_v1",
        entities=Path("spine.parquet"),  # user_id, event_timestamp, any labels
        out=Path("churn_train.parquet"),
    )

The entity file is Parquet or CSV with the feature service's join keys (integers) and
``event_timestamp``; every other column (labels, weights, ids) passes through unchanged. Each
row gets the features of the latest snapshot with ``event_timestamp <= `` its own
(docs/architecture.md §3), computed by the standard ``FeatureStore.get_historical_features``, so
a training job that calls Feast directly gets the same values. What pitstop adds around Feast:

- one-line errors before any heavy work (missing columns, string keys, unknown service);
- timestamps: a zone-less timestamp is UTC (said once on stderr); CSV strings are parsed as
  UTC unless they carry an offset; sub-microsecond parts are floored (Feast and Parquet keep
  microseconds; flooring never moves a row into a later snapshot);
- ``request_time`` for on-demand features defaults to the row's ``event_timestamp``, so a
  request-time feature means "as of the entity row's time", the same Python as serving; the
  filled-in column is not written out (it would repeat ``event_timestamp``);
- rows come back in the entity file's order (Feast's DuckDB store reorders them);
- the result streams to Parquet in Arrow batches with pitstop's offline store (the same file as
  the ``to_df()`` path, ``stream=False``); ``entities=TimeRange(start, end, every, labels)``
  builds the spine in DuckDB instead of reading an entity file; ``source_timestamps=True`` adds
  each view's ``<view>__event_timestamp`` for :mod:`pitstop.audit`;
- types: integer features are pandas' nullable ``Int64`` (Feast returns float64 as soon as a
  column has a null, int64 otherwise, so the type would depend on the data); float features
  stay float64 with NaN for null (written as Parquet nulls); timestamps are UTC, microseconds.
"""

from __future__ import annotations

import csv
import datetime
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstop import feast_repo
from pitstop.errors import (
    FeastError,
    InvalidInputError,
    PitstopError,
    UnknownFeatureServiceError,
    one_line,
)
from pitstop.settings import Settings
from pitstop.sql import identifier, literal

if TYPE_CHECKING:
    import pandas as pd
    from feast import FeatureService, FeatureStore

__all__ = [
    "ENTITY_TIMESTAMP",
    "REQUEST_TIME",
    "TimeRange",
    "TrainingSetReport",
    "build_training_set",
]

ENTITY_TIMESTAMP = "event_timestamp"
REQUEST_TIME = feast_repo.REQUEST_TIME
ENTITY_FILE_SUFFIXES = (".parquet", ".csv")
# Feast passes extra entity columns through; this one carries the entity file's row order.
_ROW_NUMBER = "__pitstop_row_number"
# A time of day followed by Z or an offset: such a string names its zone; others are UTC.
_OFFSET_AFTER_TIME = r"\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d\d(?::?\d\d)?)$"


@dataclass(frozen=True)
class TrainingSetReport:
    """What :func:`build_training_set` wrote."""

    feature_service: str
    path: Path
    rows: int
    columns: list[str]
    features: list[str]
    seconds: float
    # Share of rows where each feature is null (an entity not seen before the row's time).
    null_share: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TimeRange:
    """A spine instead of an entity file: every entity seen in [start, end) x every step.

    ``start`` and ``end`` are ISO dates or date-times (zone-less means UTC); ``every`` is ``Nd``
    or ``Nh``; ``labels`` names a table in the data folder's features/ (e.g. churn_labels),
    left-joined on the join key and ``event_timestamp``.
    """

    start: str
    end: str
    every: str = "1d"
    labels: str | None = None


@dataclass(frozen=True)
class _ServiceInputs:
    """What a feature service needs in the entity frame, read from the registry."""

    join_keys: list[str]
    request_fields: list[str]
    features: list[str]
    integer_features: list[str]


def build_training_set(
    settings: Settings,
    *,
    feature_service: str,
    entities: Path | TimeRange,
    out: Path,
    echo: Callable[[str], None] | None = None,
    stream: bool = True,
    source_timestamps: bool = False,
) -> TrainingSetReport:
    """Join ``feature_service``'s features onto the rows of ``entities`` and write Parquet to
    ``out``.

    ``echo`` receives notes about the input (a naive timestamp read as UTC); by default they go
    to stderr. With pitstop's offline store the result goes to ``out`` in Arrow batches, never
    whole in memory; ``stream=False`` (or another offline store) builds it as one pandas frame
    from ``to_df()`` first. Both write the same file. Raises :class:`MissingInputError` before
    ``pitstop build``/``apply``, :class:`UnknownFeatureServiceError`, :class:`InvalidInputError`
    for an unusable entity file, and :class:`FeastError` when Feast itself fails.
    """
    started = time.perf_counter()
    note = echo or _to_stderr
    feast_repo.require_registry(settings)
    if isinstance(entities, TimeRange):
        import tempfile

        with tempfile.TemporaryDirectory(prefix="pitstop-spine-") as folder:
            spine = Path(folder) / "spine.parquet"
            _write_spine(settings, feature_service, entities, spine)
            report = build_training_set(
                settings,
                feature_service=feature_service,
                entities=spine,
                out=out,
                echo=echo,
                stream=stream,
                source_timestamps=source_timestamps,
            )
        return TrainingSetReport(**{**report.__dict__, "seconds": time.perf_counter() - started})
    entities = Path(entities)
    header = _entity_file_columns(entities)
    if ENTITY_TIMESTAMP not in header:
        raise InvalidInputError(
            f"{entities} has no `{ENTITY_TIMESTAMP}` column (columns: {', '.join(header)})"
        )

    store = feast_repo.open_store(settings)
    service = _feature_service(store, feature_service)
    needs = _service_inputs(store, service)
    missing = [key for key in needs.join_keys if key not in header]
    if missing:
        raise InvalidInputError(
            f"{entities} lacks the join key column(s) {', '.join(missing)} that "
            f"{feature_service} needs (it joins on {', '.join(needs.join_keys)})"
        )
    _check_parquet_key_types(entities, needs.join_keys)
    clashes = [name for name in header if name in needs.features]
    if clashes:
        raise InvalidInputError(
            f"{entities} has column(s) named like features of {feature_service}: "
            f"{', '.join(clashes)}; rename them"
        )

    frame = _read_entity_file(entities)
    entity_columns = list(frame.columns)
    frame = _prepare_entity_frame(frame, entities, needs, note)
    out = Path(out)
    job = _retrieval_job(store, service, frame)
    del frame
    extra: list[str] = []
    if source_timestamps:
        if not hasattr(job, "with_source_timestamps"):
            raise InvalidInputError(
                "source timestamps need pitstop's offline store (feature_store.yaml offline_store)"
            )
        job.with_source_timestamps = True
        extra = list(job.source_timestamp_columns)
    if (stream or extra) and hasattr(job, "iter_batches"):
        rows, nulls = _write_streamed(job, out, entity_columns, needs, extra)
        null_share = {name: (nulls[name] / rows if rows else 0.0) for name in needs.features}
    else:
        result = _run(lambda: job.to_df())
        result = _restore_shape(result, entity_columns, needs)
        _write_parquet(result, out)
        rows = len(result)
        null_share = {
            name: (float(result[name].isna().mean()) if rows else 0.0) for name in needs.features
        }
    return TrainingSetReport(
        feature_service=feature_service,
        path=out,
        rows=rows,
        columns=[*entity_columns, *needs.features, *extra],
        features=list(needs.features),
        seconds=time.perf_counter() - started,
        null_share=null_share,
    )


# ---- a spine from a time range -------------------------------------------------------------


_STEP = r"^\s*(\d+)\s*([dh])\s*$"


def _instant(text: str, what: str) -> datetime.datetime:
    value = str(text).strip()
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"{what} {text!r} is not an ISO 8601 date or date-time (e.g. 2026-03-01)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc)


def _write_spine(settings: Settings, feature_service: str, window: TimeRange, out: Path) -> None:
    """Every entity with a feature row in [start, end) x every step from start, as Parquet."""
    import re

    import duckdb

    start = _instant(window.start, "--start")
    end = _instant(window.end, "--end")
    if end <= start:
        raise InvalidInputError(f"--end {window.end} must be after --start {window.start}")
    step = re.match(_STEP, window.every or "")
    if step is None or int(step.group(1)) == 0:
        raise InvalidInputError(f"--every {window.every!r} must be like 1d, 7d or 6h")
    unit = "DAY" if step.group(2) == "d" else "HOUR"
    store = feast_repo.open_store(settings)
    service = _feature_service(store, feature_service)
    needs = _service_inputs(store, service)
    if len(needs.join_keys) != 1:
        raise InvalidInputError(
            f"{feature_service} joins on {', '.join(needs.join_keys)}: a time range gives no "
            "spine for more than one entity; pass --entities FILE"
        )
    key = needs.join_keys[0]
    paths = _source_paths(store, service, key)
    labels_path = None
    if window.labels:
        labels_path = settings.features_dir / f"{window.labels}.parquet"
        if not labels_path.is_file():
            known = sorted(path.stem for path in settings.features_dir.glob("*.parquet"))
            raise InvalidInputError(
                f"no labels table {window.labels!r} in {settings.features_dir}; "
                f"known: {', '.join(known) or 'none'}"
            )

    quoted = identifier(key)
    seen = " UNION ".join(
        f"SELECT {quoted} FROM read_parquet({literal(path)}) "
        f"WHERE event_timestamp >= $start AND event_timestamp < $end"
        for path in paths
    )
    spine = (
        f"SELECT k.{quoted}, t.range AS event_timestamp "
        f"FROM ({seen}) AS k CROSS JOIN range($start, $end, INTERVAL {int(step.group(1))} {unit}) "
        "AS t"
    )
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        if labels_path is not None:
            columns = [
                name
                for name in connection.read_parquet(str(labels_path)).columns
                if name not in (key, ENTITY_TIMESTAMP, "created_timestamp")
            ]
            if key not in connection.read_parquet(str(labels_path)).columns:
                raise InvalidInputError(f"labels table {labels_path} has no `{key}` column")
            picked = ", ".join(f'l."{name}"' for name in columns)
            spine = (
                f"SELECT s.*{', ' + picked if picked else ''} FROM ({spine}) AS s "
                f"LEFT JOIN read_parquet({literal(labels_path)}) AS l "
                f"ON l.{quoted} = s.{quoted} AND l.event_timestamp = s.event_timestamp"
            )
        connection.execute(
            f"COPY ({spine} ORDER BY event_timestamp, {quoted}) TO {literal(out)} (FORMAT parquet)",
            {"start": start, "end": end},
        )
        rows = connection.execute(f"SELECT count(*) FROM read_parquet({literal(out)})")
        if rows.fetchall()[0][0] == 0:
            raise InvalidInputError(
                f"no {key} has a feature row in [{window.start}, {window.end}); nothing to join"
            )


def _source_paths(store: FeatureStore, service: FeatureService, key: str) -> list[str]:
    """The Parquet files of the service's feature views (on-demand sources too) keyed by
    ``key``."""
    batch_views = {view.name: view for view in store.list_feature_views()}
    on_demand_views = {view.name: view for view in store.list_on_demand_feature_views()}
    names: list[str] = []
    for projection in service.feature_view_projections:
        names.append(projection.name)
        on_demand = on_demand_views.get(projection.name)
        if on_demand is not None:
            names.extend(
                source.name for source in on_demand.source_feature_view_projections.values()
            )
    paths: list[str] = []
    for name in dict.fromkeys(names):
        view = batch_views.get(name)
        if view is None or key not in [column.name for column in view.entity_columns]:
            continue
        path = str(getattr(view.batch_source, "path", "")).removeprefix("file://")
        if path and path not in paths:
            paths.append(path)
    if not paths:
        raise InvalidInputError(f"no feature table of {service.name} is keyed by {key}")
    return paths


# ---- the entity file -------------------------------------------------------------------------


def _entity_file_columns(path: Path) -> list[str]:
    """The column names, read from the file's schema or header only."""
    suffix = path.suffix.lower()
    if suffix not in ENTITY_FILE_SUFFIXES:
        raise InvalidInputError(
            f"unsupported entity file type {path.suffix or '(no suffix)'!r} for {path}; "
            "use .parquet or .csv"
        )
    if not path.is_file():
        raise InvalidInputError(f"no entity file at {path}")
    if suffix == ".csv":
        with path.open(newline="") as handle:
            first = next(csv.reader(handle), None)
        if not first:
            raise InvalidInputError(f"{path} is empty; expected a header line")
        return first

    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except (pa.ArrowException, OSError) as error:
        raise InvalidInputError(f"{path} is not a readable Parquet file: {error}") from error


def _check_parquet_key_types(path: Path, join_keys: list[str]) -> None:
    """Wrong key types of a Parquet entity file, from its schema (before reading any rows)."""
    if path.suffix.lower() != ".parquet":
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    for key in join_keys:
        kind = schema.field(key).type
        if not pa.types.is_integer(kind):
            hint = " (empty cells?)" if pa.types.is_floating(kind) else ""
            raise InvalidInputError(
                f"join key column {key} in {path} must hold integers, found {kind}{hint}"
            )


def _read_entity_file(path: Path) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa

    try:
        if path.suffix.lower() == ".csv":
            # Timestamps stay text here; _utc_timestamps parses them with an explicit rule.
            return pd.read_csv(path, dtype={ENTITY_TIMESTAMP: str, REQUEST_TIME: str})
        return pd.read_parquet(path)
    except (pa.ArrowException, ValueError, OSError) as error:
        raise InvalidInputError(f"cannot read {path}: {one_line(error)}") from error


def _prepare_entity_frame(
    frame: pd.DataFrame,
    path: Path,
    needs: _ServiceInputs,
    note: Callable[[str], None],
) -> pd.DataFrame:
    import pandas as pd

    if frame.empty:
        raise InvalidInputError(f"{path} has no rows")
    frame = frame.copy()
    for key in needs.join_keys:
        column = frame[key]
        if not pd.api.types.is_integer_dtype(column.dtype):
            hint = " (empty cells?)" if pd.api.types.is_float_dtype(column.dtype) else ""
            raise InvalidInputError(
                f"join key column {key} in {path} must hold integers, found {column.dtype}{hint}"
            )
        if column.isna().any():
            raise InvalidInputError(f"join key column {key} in {path} has empty values")
        frame[key] = column.astype("int64")

    naive: list[str] = []
    frame[ENTITY_TIMESTAMP] = _utc_timestamps(frame[ENTITY_TIMESTAMP], path, naive)
    if REQUEST_TIME in needs.request_fields and REQUEST_TIME in frame.columns:
        frame[REQUEST_TIME] = _utc_timestamps(frame[REQUEST_TIME], path, naive)
    if naive:
        columns = ", ".join(naive)
        note(f"note: the timestamps in {columns} of {path} have no time zone; read as UTC")

    if REQUEST_TIME in needs.request_fields and REQUEST_TIME not in frame.columns:
        # Request-time features mean "as of the entity row's time" in a training set.
        frame[REQUEST_TIME] = frame[ENTITY_TIMESTAMP]
    absent = [name for name in needs.request_fields if name not in frame.columns]
    if absent:
        raise InvalidInputError(
            f"{path} lacks the request data column(s) {', '.join(absent)} that on-demand "
            "features of this service need"
        )
    frame[_ROW_NUMBER] = range(len(frame))
    return frame


def _utc_timestamps(column: pd.Series[Any], path: Path, naive: list[str]) -> pd.Series[Any]:
    """Timestamps as UTC microseconds; zone-less values are UTC (their column goes to ``naive``)."""
    import pandas as pd

    name = str(column.name)
    if column.isna().any():
        raise InvalidInputError(
            f"column {name} in {path} has {int(column.isna().sum())} empty values"
        )
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        parsed = column.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(column.dtype):
        naive.append(name)
        parsed = column.dt.tz_localize("UTC")
    elif pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype):
        text = column.astype(str).str.strip()
        has_zone = text.str.contains(_OFFSET_AFTER_TIME, regex=True)
        if not has_zone.all():
            naive.append(name)
        # Each kind parsed on its own: given both at once, pandas reads a zone-less string
        # that follows "+02:00" as +02:00 too.
        parsed = pd.Series(pd.NaT, index=column.index, dtype="datetime64[ns, UTC]", name=name)
        try:
            parsed[has_zone] = pd.to_datetime(text[has_zone], utc=True, format="ISO8601")
            parsed[~has_zone] = pd.to_datetime(text[~has_zone], format="ISO8601").dt.tz_localize(
                "UTC"
            )
        except (ValueError, TypeError) as error:
            raise InvalidInputError(
                f"column {name} in {path} is not ISO 8601 date-times: "
                f"{one_line(error).split('. You might')[0]}"
            ) from error
    else:
        raise InvalidInputError(
            f"column {name} in {path} must hold timestamps, found {column.dtype}"
        )
    # Flooring never moves a row into a later snapshot (no look-ahead).
    return parsed.dt.floor("us").astype("datetime64[us, UTC]")


# ---- Feast -------------------------------------------------------------------------------------


def _feature_service(store: FeatureStore, name: str) -> FeatureService:
    from feast.errors import FeatureServiceNotFoundException

    try:
        return store.get_feature_service(name)
    except FeatureServiceNotFoundException:
        known = sorted(service.name for service in store.list_feature_services())
        raise UnknownFeatureServiceError(
            f"no feature service {name!r}; known: {', '.join(known) or 'none'}"
        ) from None


def _service_inputs(store: FeatureStore, service: FeatureService) -> _ServiceInputs:
    """Join keys, request fields and features of a service, from the registry."""
    from feast.types import Int32, Int64

    batch_views = {view.name: view for view in store.list_feature_views()}
    on_demand_views = {view.name: view for view in store.list_on_demand_feature_views()}
    join_keys: list[str] = []
    request_fields: list[str] = []

    def add_join_keys(view_name: str, key_map: dict[str, str]) -> None:
        view = batch_views.get(view_name)
        if view is None:
            return
        for column in view.entity_columns:
            key = key_map.get(column.name, column.name)
            if key not in join_keys:
                join_keys.append(key)

    features: list[str] = []
    integer_features: list[str] = []
    for projection in service.feature_view_projections:
        add_join_keys(projection.name, projection.join_key_map)
        on_demand = on_demand_views.get(projection.name)
        if on_demand is not None:
            for source in on_demand.source_feature_view_projections.values():
                add_join_keys(source.name, source.join_key_map)
            for request_source in on_demand.source_request_sources.values():
                request_fields.extend(f.name for f in request_source.schema)
        for feature in projection.features:
            features.append(feature.name)
            if feature.dtype in (Int32, Int64):
                integer_features.append(feature.name)
    return _ServiceInputs(
        join_keys=join_keys,
        request_fields=list(dict.fromkeys(request_fields)),
        features=features,
        integer_features=integer_features,
    )


def _retrieval_job(store: FeatureStore, service: FeatureService, frame: pd.DataFrame) -> Any:
    return _run(lambda: store.get_historical_features(entity_df=frame, features=service))


def _run(step: Callable[[], Any]) -> Any:
    """Feast's errors as pitstop's, one line each."""
    from feast.errors import RequestDataNotFoundInEntityDfException

    try:
        with warnings.catch_warnings():
            # ibis (under Feast's DuckDB store) calls a method DuckDB 2.0 deprecates.
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ibis(\.|$)")
            return step()
    except RequestDataNotFoundInEntityDfException as error:
        raise InvalidInputError(one_line(error)) from error
    except PitstopError:
        raise
    except Exception as error:  # Feast and its engines raise many unrelated types
        raise FeastError(f"historical retrieval failed: {one_line(error)}") from error


def _file_schema(first: Any, needs: _ServiceInputs) -> Any:
    """The Arrow types of the first batch (integer features int64, plain strings) with the
    pandas metadata the pandas path writes (so pandas reads Int64 columns back as Int64)."""
    import pyarrow as pa

    frame = first.to_pandas()
    for name in needs.integer_features:
        frame[name] = frame[name].astype("Int64")
    metadata = pa.Schema.from_pandas(frame, preserve_index=False).metadata
    fields = []
    for column in first.schema:
        kind = column.type
        if column.name in needs.integer_features:
            kind = pa.int64()
        elif pa.types.is_string_view(kind) or pa.types.is_large_string(kind):
            kind = pa.string()
        fields.append(pa.field(column.name, kind))
    return pa.schema(fields, metadata=metadata)


def _write_streamed(
    job: Any,
    out: Path,
    entity_columns: list[str],
    needs: _ServiceInputs,
    extra: list[str] | None = None,
) -> tuple[int, dict[str, int]]:
    """Write ``job``'s result batch by batch, in the columns and types of the pandas path
    (the schema, pandas metadata included, comes from the first batch as that path shapes it);
    returns the rows and the null count per feature."""
    import pyarrow.parquet as pq

    out.parent.mkdir(parents=True, exist_ok=True)
    pending = out.with_name(f".{out.name}.{os.getpid()}.pending")
    columns = [*entity_columns, *needs.features, *(extra or [])]
    rows = 0
    nulls = dict.fromkeys(needs.features, 0)
    writer: pq.ParquetWriter | None = None

    def batches() -> Any:
        yield from job.iter_batches()

    try:
        iterator = batches()
        while True:
            table = _run(lambda: next(iterator, None))
            if table is None:
                break
            table = table.select(columns)
            if writer is None:
                writer = pq.ParquetWriter(pending, _file_schema(table, needs))
            table = table.cast(writer.schema)
            for name in needs.features:
                nulls[name] += table.column(name).null_count
            writer.write_table(table)
            rows += table.num_rows
        if writer is None:
            raise InvalidInputError("the retrieval returned no batches")
        writer.close()
        writer = None
        os.replace(pending, out)
    finally:
        if writer is not None:
            writer.close()
        pending.unlink(missing_ok=True)
    return rows, nulls


def _restore_shape(
    result: pd.DataFrame, entity_columns: list[str], needs: _ServiceInputs
) -> pd.DataFrame:
    """The entity file's rows in its order and columns, then the service's features;
    timestamps UTC in microseconds whatever the offline store returned."""
    import pandas as pd

    result = result.sort_values(_ROW_NUMBER, kind="stable").reset_index(drop=True)
    for name in needs.integer_features:
        result[name] = result[name].astype("Int64")
    for name in result.columns:
        column = result[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            if getattr(column.dt, "tz", None) is None:
                # Feast's Spark store returns zone-less timestamps: UTC wall clock (pitstop
                # pins the Spark session to UTC, service/pitstop/spark_session.py).
                column = column.dt.tz_localize("UTC")
            result[name] = column.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    return result[[*entity_columns, *needs.features]]


def _write_parquet(frame: pd.DataFrame, out: Path) -> None:
    """Write next to ``out`` first, then rename: a failed run leaves no half-written file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    pending = out.with_name(f".{out.name}.{os.getpid()}.pending")
    try:
        frame.to_parquet(pending, index=False)
        os.replace(pending, out)
    finally:
        pending.unlink(missing_ok=True)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)
