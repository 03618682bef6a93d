"""A Feast offline store whose point-in-time joins are DuckDB ``ASOF LEFT JOIN`` s.

Select it in feature_store.yaml (Feast finds :class:`PitstopOfflineStoreConfig` by the class
path plus ``Config``)::

    offline_store:
      type: pitstop.offline.store.PitstopOfflineStore

Training code keeps calling ``FeatureStore.get_historical_features``; only the join changes.
Feast's own DuckDB store joins every entity row with every older feature row through ibis and
keeps the newest with ``row_number()``; here each feature view is one ASOF join against its
Parquet file, which DuckDB runs as a sort-merge, so time and memory grow with the inputs, not
with the history per entity. The semantics are Feast's (the equivalence tests compare the two
cell for cell):

- rows of a feature table with the same join keys and ``event_timestamp`` are one row: the
  latest ``created_timestamp`` wins (nulls lose);
- an entity row gets the latest feature row with ``event_timestamp <=`` its own;
- when that row is older than the view's ttl, the view's features are null (no ttl, or a zero
  ttl, means unlimited).

One rule is pitstop's: staleness by coverage (docs/architecture.md §3, "Staleness"). An entity
row later than its view's table coverage (:mod:`pitstop.coverage`) plus ``stale_after_hours``
gets nulls for that view; a table without a recorded coverage is never stale. Inside the
coverage the answers are Feast's.

``unique_event_timestamps: true`` in the config says the first rule never applies (one row per
join keys and event time, as pitstop's dbt marts test); the join then orders by event time
alone, about a fifth faster.

What it adds: rows come back in the entity frame's order; each on-demand view's stored
transformation gets only the columns it reads (its source views' features, its request fields,
the join keys), not the whole joined result, and a python-mode view's timestamps become Python
objects through numpy instead of pyarrow's slow ``to_pydict`` (the same values; outputs,
names and types as Feast's ``to_arrow`` appends them); the result can be streamed
(``job.iter_batches()``, ``job.to_parquet(path)``: Arrow batches from DuckDB, on-demand views
applied per batch, DuckDB's memory capped by ``stream_memory_limit``), optionally with each
view's matched source time (``job.with_source_timestamps = True`` adds
``<view>__event_timestamp``, for leakage audits);
the entity frame may be a pandas frame, an Arrow table, a Parquet path or a SQL query (over
DuckDB); zone-less timestamps are UTC. Everything else (materialization, ``pull_all``,
logging, writes, monitoring) and anything the ASOF plan does not cover
(``filter_by_created_timestamp``, sources other than local Parquet files, substrait on-demand
views, an ``entity_df`` of None) is Feast's DuckDB store unchanged; pitstop's retrieval by time
range builds its entity spine first (pitstop.offline.spine).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from feast.data_format import ParquetFormat
from feast.infra.offline_stores.duckdb import (
    DuckDBOfflineStore,
    DuckDBOfflineStoreConfig,
    _write_data_source,
)
from feast.infra.offline_stores.file_source import FileSource
from feast.infra.offline_stores.offline_store import RetrievalJob, RetrievalMetadata
from feast.infra.offline_stores.offline_utils import infer_event_timestamp_from_entity_df
from feast.on_demand_feature_view import OnDemandFeatureView
from pydantic import StrictStr

from pitstop import coverage, feature_tables, spill
from pitstop.errors import EntityColumnClashError
from pitstop.sql import identifier, literal

if TYPE_CHECKING:
    from feast.feature_view import FeatureView
    from feast.infra.registry.base_registry import BaseRegistry
    from feast.repo_config import RepoConfig
    from feast.saved_dataset import SavedDatasetStorage, ValidationReference

__all__ = [
    "PitstopOfflineStore",
    "PitstopOfflineStoreConfig",
    "PitstopRetrievalJob",
    "source_timestamp_column",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Carries the entity frame's row order through the joins; never in the output.
_ROW_ID = "__pitstop_entity_row"


class PitstopOfflineStoreConfig(DuckDBOfflineStoreConfig):
    """Feast's DuckDB store settings (staging location...), plus one option of the join."""

    type: StrictStr = "pitstop.offline.store.PitstopOfflineStore"
    # True when every feature table has one row per join keys + event_timestamp (pitstop's dbt
    # marts test exactly that): the join then skips the created_timestamp tie-break, about a
    # fifth of its time. With ties in the data the answer would no longer be Feast's.
    unique_event_timestamps: bool = False
    # DuckDB's memory limit while a result streams to Parquet (iter_batches, to_parquet); past
    # it the sort spills to disk. Empty means DuckDB's default (80% of RAM).
    stream_memory_limit: StrictStr = "1GB"
    # How long past its table's coverage a view is served (pitstop.coverage); None: forever.
    # pitstop writes 2 x PITSTOP_FRESHNESS_HOURS here (feast_adapter/config.py).
    stale_after_hours: float | None = 48.0


@dataclass(frozen=True)
class _ViewPlan:
    """One feature view's side of the join: where to read it and what to take from it."""

    name: str
    path: str
    # Entity frame column -> feature table column, one pair per join key.
    keys: dict[str, str]
    timestamp: str
    created: str | None
    # Output column name -> feature table column.
    features: dict[str, str]
    ttl: timedelta | None
    # Entity rows after this instant get nulls: the table's coverage plus the grace.
    stale_after: datetime | None = None
    # A partitioned feature table's files the join reads (None: ``path`` as it is).
    files: list[str] | None = None


class PitstopOfflineStore(DuckDBOfflineStore):
    """Feast's DuckDB offline store with an ASOF-join ``get_historical_features``."""

    @staticmethod
    def get_historical_features(
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: pd.DataFrame | pa.Table | str | None,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
        **kwargs: Any,
    ) -> RetrievalJob:
        odfvs = OnDemandFeatureView.get_requested_odfvs(feature_refs, project, registry)
        unique = bool(getattr(config.offline_store, "unique_event_timestamps", False))
        grace = getattr(config.offline_store, "stale_after_hours", None)
        plans = [
            _plan_view(view, feature_refs, full_feature_names, unique, grace)
            for view in feature_views
        ]
        if (
            entity_df is None
            or kwargs
            or filter_by_created_timestamp
            or any(plan is None for plan in plans)
            or any(odfv.mode == "substrait" for odfv in odfvs)
        ):
            return DuckDBOfflineStore.get_historical_features(
                config=config,
                feature_views=feature_views,
                feature_refs=feature_refs,
                entity_df=entity_df,
                registry=registry,
                project=project,
                full_feature_names=full_feature_names,
                filter_by_created_timestamp=filter_by_created_timestamp,
                **kwargs,
            )
        entities, timestamp_column = _entity_table(entity_df)
        _refuse_clashes(entities.column_names, plans, odfvs, feature_refs, full_feature_names)
        timestamps = entities.column(timestamp_column)
        return PitstopRetrievalJob(
            entities=entities,
            timestamp_column=timestamp_column,
            views=[plan for plan in plans if plan is not None],
            on_demand_feature_views=odfvs,
            full_feature_names=full_feature_names,
            metadata=RetrievalMetadata(
                features=feature_refs,
                keys=[name for name in entities.column_names if name != timestamp_column],
                min_event_timestamp=_as_datetime(pc.min(timestamps)),
                max_event_timestamp=_as_datetime(pc.max(timestamps)),
            ),
            repo_path=str(config.repo_path),
            stream_memory_limit=str(getattr(config.offline_store, "stream_memory_limit", "")),
        )


class PitstopRetrievalJob(RetrievalJob):
    """The join, run when the result is asked for: one DuckDB query, Arrow out."""

    def __init__(
        self,
        *,
        entities: pa.Table,
        timestamp_column: str,
        views: list[_ViewPlan],
        on_demand_feature_views: list[OnDemandFeatureView],
        full_feature_names: bool,
        metadata: RetrievalMetadata,
        repo_path: str,
        stream_memory_limit: str = "",
    ) -> None:
        super().__init__()
        self._stream_memory_limit = stream_memory_limit
        self._entities = entities
        self._timestamp_column = timestamp_column
        self._views = views
        self._on_demand_feature_views = on_demand_feature_views
        self._full_feature_names = full_feature_names
        self._metadata = metadata
        self._repo_path = repo_path
        keys = list(dict.fromkeys(key for view in views for key in view.keys))
        self._on_demand = _on_demand_steps(
            on_demand_feature_views, metadata.features, full_feature_names, keys
        )
        # Set by callers that audit the result (pitstop training-set --audit).
        self.with_source_timestamps = False

    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def entity_rows(self) -> int:
        """The rows of the entity frame: the rows the result has."""
        return int(self._entities.num_rows)

    @property
    def source_timestamp_columns(self) -> list[str]:
        """The columns ``with_source_timestamps`` adds, one per feature view."""
        return [source_timestamp_column(view.name) for view in self._views]

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return self._on_demand_feature_views

    @property
    def metadata(self) -> RetrievalMetadata | None:
        return self._metadata

    def to_sql(self) -> str:
        return _join_sql(self._views, self._timestamp_column)

    def to_arrow(
        self,
        validation_reference: ValidationReference | None = None,
        timeout: int | None = None,
    ) -> pa.Table:
        """Feast's ``to_arrow`` (its metrics, its validation), the on-demand views applied as
        :func:`_apply_on_demand` does: each fed only the columns it reads."""
        return _Applied(
            self, lambda: self._with_on_demand(self._to_arrow_internal(timeout))
        ).to_arrow(validation_reference=validation_reference, timeout=timeout)

    def _with_on_demand(self, table: pa.Table) -> pa.Table:
        return _apply_on_demand(table, self._on_demand, self._full_feature_names)

    def _to_df_internal(self, timeout: int | None = None) -> pd.DataFrame:
        return self._to_arrow_internal(timeout).to_pandas()

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        features = _run_join(self._entities, self._timestamp_column, self._views)
        result = self._entities
        for name in features.column_names:
            result = result.append_column(name, features.column(name))
        return result

    def iter_batches(self, batch_size: int = 1 << 17) -> Iterator[pa.Table]:
        """The result in entity-row order as Arrow tables of up to ``batch_size`` rows, on-demand
        features included (Feast's own transformation, applied per batch): the whole result is
        never in memory at once."""
        keys = list(dict.fromkeys(key for view in self._views for key in view.keys))
        carry = [name for name in self._entities.column_names if name not in keys]
        carry = [name for name in carry if name != self._timestamp_column]
        entities = self._entities.append_column(
            _ROW_ID, pa.array(np.arange(self._entities.num_rows, dtype=np.int64))
        )
        with spill.connect() as connection:
            if self._stream_memory_limit:
                # The ORDER BY that restores the entity order spills past this, so a large
                # result streams in bounded memory (10M rows: 1.6 GB peak instead of 2.9 GB).
                connection.execute(f"SET memory_limit = {literal(self._stream_memory_limit)}")
            connection.register("entities", entities)
            prune = [_worth_pruning(connection, v, entities.num_rows) for v in self._views]
            sql = _join_sql(
                self._views,
                self._timestamp_column,
                prune,
                carry=carry,
                source_timestamps=self.with_source_timestamps,
            )
            order = [*keys, self._timestamp_column, *carry]
            features = [out for view in self._views for out in view.features]
            if self.with_source_timestamps:
                features += [source_timestamp_column(view.name) for view in self._views]
            columns = ", ".join(identifier(name) for name in [*order, *features])
            reader = connection.sql(
                f"SELECT {columns} FROM ({sql}) ORDER BY {_ROW_ID}"
            ).to_arrow_reader(batch_size)
            names = self._entities.column_names
            for batch in reader:
                table = pa.Table.from_batches([batch])
                table = table.select([*names, *features])
                yield _Applied(self, partial(self._with_on_demand, table)).to_arrow()

    def to_parquet(self, path: str | os.PathLike[str], batch_size: int = 1 << 17) -> int:
        """Write the result to a Parquet file batch by batch; returns the number of rows."""
        import pyarrow.parquet as pq

        rows = 0
        writer: pq.ParquetWriter | None = None
        try:
            for table in self.iter_batches(batch_size):
                if writer is None:
                    writer = pq.ParquetWriter(str(path), table.schema)
                writer.write_table(table.cast(writer.schema))
                rows += table.num_rows
        finally:
            if writer is not None:
                writer.close()
        return rows

    def persist(
        self,
        storage: SavedDatasetStorage,
        allow_overwrite: bool = False,
        timeout: int | None = None,
    ) -> None:
        import ibis

        # Feast's DuckDB store's own writer (no public one);
        # tests/feast_adapter/test_private_calls.py pins its shape.
        _write_data_source(
            ibis.memtable(self.to_arrow()),
            storage.to_data_source(),
            self._repo_path,
            "overwrite",
            allow_overwrite,
        )


class _Applied(RetrievalJob):
    """A result of a :class:`PitstopRetrievalJob` (whole, or one batch) whose on-demand
    features ``produce`` already adds, run through Feast's ``to_arrow`` for its metrics and
    validation: it lists no on-demand views, so Feast applies none a second time."""

    def __init__(self, job: PitstopRetrievalJob, produce: Callable[[], pa.Table]) -> None:
        super().__init__()
        self._job = job
        self._produce = produce

    @property
    def full_feature_names(self) -> bool:
        return self._job.full_feature_names

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return []

    @property
    def metadata(self) -> RetrievalMetadata | None:
        return self._job.metadata

    def _to_df_internal(self, timeout: int | None = None) -> pd.DataFrame:
        return self._produce().to_pandas()

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        return self._produce()

    def persist(
        self,
        storage: SavedDatasetStorage,
        allow_overwrite: bool = False,
        timeout: int | None = None,
    ) -> None:
        raise NotImplementedError("persist the PitstopRetrievalJob itself")


# ---- on-demand views ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _OnDemandStep:
    """One on-demand view: the columns it may read, and which of its outputs were asked for."""

    view: OnDemandFeatureView
    # In the order tried; those absent from a result are skipped.
    inputs: list[str]
    # Output column names to append; None appends every output (Feast without metadata).
    requested: set[str] | None


def _on_demand_steps(
    views: list[OnDemandFeatureView],
    feature_refs: list[str],
    full_feature_names: bool,
    keys: list[str],
) -> list[_OnDemandStep]:
    """What :func:`_apply_on_demand` needs per view, worked out as Feast 0.67's
    ``RetrievalJob.to_arrow`` works out the requested outputs."""
    requested: dict[str, set[str]] = {}
    for ref in feature_refs:
        if ":" not in ref:
            continue
        view_name, feature = ref.split(":", 1)
        for view in views:
            prefix = str(view.projection.name_to_use())  # type: ignore[no-untyped-call]
            if view_name in (view.name, prefix):
                column = f"{prefix}__{feature}" if full_feature_names else feature
                requested.setdefault(view_name, set()).add(column)
    steps = []
    for view in views:
        prefix = str(view.projection.name_to_use())  # type: ignore[no-untyped-call]
        # What the function may read: its source views' features under either name (Feast's
        # transform_arrow adds the other), its request fields, and the join keys (an online
        # lookup hands it the entity keys too).
        inputs = list(keys)
        for projection in view.source_feature_view_projections.values():
            for field in projection.features:
                inputs += [f"{projection.name}__{field.name}", field.name]
        for source in view.source_request_sources.values():
            inputs += [request.name for request in source.schema]
        wanted = requested.get(view.name) if view.name in requested else requested.get(prefix)
        steps.append(_OnDemandStep(view, list(dict.fromkeys(inputs)), wanted))
    return steps


def _apply_on_demand(
    table: pa.Table, steps: list[_OnDemandStep], full_feature_names: bool
) -> pa.Table:
    """``table`` with each on-demand view's requested outputs appended, as Feast's
    ``RetrievalJob.to_arrow`` appends them, but each view's stored transformation
    (``transform_arrow``, the same function the API runs) gets only the columns it reads: a
    python-mode view turns its input into Python objects, and the result's other columns would
    cost most of a training set's time for nothing."""
    for step in steps:
        present = set(table.column_names)
        inputs = table.select([name for name in step.inputs if name in present])
        transformed = _transform(step.view, inputs, full_feature_names)
        for name in transformed.column_names:
            if name.startswith("__index"):
                continue
            if step.requested is None or name in step.requested:
                table = table.append_column(name, transformed[name])
    return table


# ---- planning ----------------------------------------------------------------------------------


def _plan_view(
    view: FeatureView,
    feature_refs: list[str],
    full_feature_names: bool,
    unique: bool,
    stale_after_hours: float | None = None,
) -> _ViewPlan | None:
    """How to join ``view``, or None when its source is not a local Parquet FileSource."""
    source = view.batch_source
    if not isinstance(source, FileSource):
        return None
    path = source.path
    if not (
        isinstance(source.file_format, ParquetFormat)
        or (source.file_format is None and path.endswith(".parquet"))
    ) or "://" in path.removeprefix("file://"):
        return None
    path = path.removeprefix("file://")
    covered_until = coverage.of_table(path) if stale_after_hours is not None else None
    if os.path.isdir(path):
        path = os.path.join(path, "**", "*.parquet")

    # field_mapping renames source columns (source name -> Feast name); read the source names.
    to_source = {new: old for old, new in source.field_mapping.items()}

    def column(name: str) -> str:
        return to_source.get(name, name)

    prefix = str(view.projection.name_to_use())  # type: ignore[no-untyped-call]
    names = [ref.split(":", 1)[1] for ref in feature_refs if ref.startswith(f"{prefix}:")]
    base_name = view.projection.name_alias or view.name
    join_key_map = view.projection.join_key_map or {e.name: e.name for e in view.entity_columns}
    return _ViewPlan(
        name=str(base_name),
        path=path,
        keys={entity: column(key) for key, entity in join_key_map.items()},
        timestamp=column(source.timestamp_field),
        # Without ties on event time there is nothing for created_timestamp to decide.
        created=column(source.created_timestamp_column)
        if source.created_timestamp_column and not unique
        else None,
        features={
            (f"{base_name}__{name}" if full_feature_names else name): column(name) for name in names
        },
        ttl=view.ttl or None,
        stale_after=None
        if covered_until is None or stale_after_hours is None
        else covered_until + timedelta(hours=stale_after_hours),
    )


def _refuse_clashes(
    entity_columns: list[str],
    plans: list[_ViewPlan | None],
    odfvs: list[OnDemandFeatureView],
    feature_refs: list[str],
    full_feature_names: bool,
) -> None:
    """An entity column named like a feature the result will hold would make two columns of
    that name; Feast's DuckDB store refuses such a frame, and so does this one."""
    outputs = {name for plan in plans if plan is not None for name in plan.features}
    on_demand = {str(odfv.projection.name_to_use()) for odfv in odfvs}  # type: ignore[no-untyped-call]
    for prefix, name in (ref.split(":", 1) for ref in feature_refs):
        if prefix in on_demand:
            outputs.add(f"{prefix}__{name}" if full_feature_names else name)
    clashes = [name for name in entity_columns if name in outputs]
    if clashes:
        raise EntityColumnClashError(
            f"the entity frame has column(s) named like requested features: "
            f"{', '.join(clashes)}; rename or drop them"
        )


def _entity_table(entity_df: pd.DataFrame | pa.Table | str) -> tuple[pa.Table, str]:
    """The entity rows as Arrow (from a frame, a table, a Parquet path or a DuckDB query) and
    the name of their timestamp column, which is made UTC."""
    if isinstance(entity_df, pd.DataFrame):
        column = _timestamp_column(dict(entity_df.dtypes.items()))
        values = entity_df[column]
        if pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype):
            # Mixed offsets or strings, parsed as Feast does (no offset means UTC).
            entity_df = entity_df.assign(**{column: pd.to_datetime(values, utc=True)})
        table = pa.Table.from_pandas(entity_df, preserve_index=False)
    elif isinstance(entity_df, pa.Table):
        table = entity_df
        column = _timestamp_column(dict(table.schema.empty_table().to_pandas().dtypes.items()))
    else:
        with spill.connect() as connection:
            text = str(entity_df).strip()
            if text.endswith(".parquet") and os.path.exists(text):
                table = connection.read_parquet(text).to_arrow_table()
            else:
                table = connection.sql(text).to_arrow_table()
        column = _timestamp_column(dict(table.schema.empty_table().to_pandas().dtypes.items()))
    return _with_utc_timestamps(table, column), column


def _timestamp_column(schema: dict[str, Any]) -> str:
    return str(infer_event_timestamp_from_entity_df(schema))


def _with_utc_timestamps(entities: pa.Table, column: str) -> pa.Table:
    """The entity timestamp column as UTC microseconds, as Feast returns it: zone-less means
    UTC; strings are parsed as Feast does (an offset is honoured, none means UTC)."""
    values = entities.column(column)
    kind = values.type
    if pa.types.is_timestamp(kind):
        # A zone-less value is read as UTC; an aware one is stored as UTC already.
        values = values.cast(pa.timestamp(kind.unit, tz="UTC"))
    else:
        values = pa.chunked_array([pa.array(pd.to_datetime(values.to_pandas(), utc=True))])
    # Sub-microsecond parts are dropped, as Feast and Parquet do.
    values = pc.cast(values, pa.timestamp("us", tz="UTC"), safe=False)
    return entities.set_column(entities.schema.get_field_index(column), column, values)


def _as_datetime(scalar: pa.Scalar) -> datetime | None:
    value = scalar.as_py()
    return value if isinstance(value, datetime) else None


def source_timestamp_column(view: str) -> str:
    """The column that carries ``view``'s matched source ``event_timestamp`` (for audits)."""
    return f"{view}__event_timestamp"


# ---- the join ----------------------------------------------------------------------------------


# Ties on event time go to the newest created_timestamp: the ASOF join orders the rows of a
# feature table by one number, event time (µs) * 2^64 + created time (µs, shifted to be >= 0;
# a null created_timestamp is 1, below any other). An entity row's bound is its time * 2^64 +
# 2^64 - 1, so it sees every row of its own second. This costs about a fifth of the join where a
# row_number() window to dedupe first costs three times the join.
_SHIFT = 2**64
_CREATED_OFFSET = 2**63


def _order_key(timestamp: str, created: str) -> str:
    return (
        f"epoch_us({timestamp})::HUGEINT * {_SHIFT} + "
        f"(coalesce(epoch_us({created}), {-_CREATED_OFFSET + 1})::HUGEINT + {_CREATED_OFFSET})"
    )


def _view_sql(view: _ViewPlan, prune: bool) -> str:
    """The feature table's columns the join needs, under the names the output uses; with
    ``prune``, only the rows of entities in the entity frame."""
    keys = [f"{identifier(source)} AS {identifier(entity)}" for entity, source in view.keys.items()]
    features = [
        f"{identifier(source)} AS {identifier(out)}" for out, source in view.features.items()
    ]
    timestamp = f"{identifier(view.timestamp)}::TIMESTAMPTZ"
    if view.created is None:
        when = [f"{timestamp} AS __ts"]
    else:
        # The event time is the order key's high half: no second column through the sort.
        when = [f"{_order_key(timestamp, identifier(view.created) + '::TIMESTAMPTZ')} AS __order"]
    columns = ", ".join([*keys, *when, *features])
    # A row without event_timestamp has a null order key and time: the join never picks it.
    source = (
        feature_tables.read_sql(view.files) if view.files else f"read_parquet({literal(view.path)})"
    )
    sql = f"SELECT {columns} FROM {source} AS s"
    if prune:
        known = ", ".join(identifier(entity) for entity in view.keys)
        on = " AND ".join(
            f"s.{identifier(src)} = k.{identifier(ent)}" for ent, src in view.keys.items()
        )
        sql += f" SEMI JOIN (SELECT DISTINCT {known} FROM entities) AS k ON {on}"
    return sql


def _join_sql(
    views: list[_ViewPlan],
    timestamp_column: str,
    prune: list[bool] | None = None,
    carry: list[str] | None = None,
    source_timestamps: bool = False,
) -> str:
    """Each view one ASOF LEFT JOIN onto the entity rows, ttl applied to the matched row; the
    result has the row id and the features, plus the join keys, the entity timestamp and the
    ``carry`` columns of the entity rows when ``carry`` is given (even empty)."""
    entity_ts = f"e.{identifier(timestamp_column)}"
    needed = list(dict.fromkeys(key for view in views for key in view.keys))
    passed = [*needed, timestamp_column, *carry] if carry is not None else []
    entity_columns = ", ".join(
        [
            _ROW_ID,
            *(identifier(k) for k in needed),
            f"{identifier(timestamp_column)}::TIMESTAMPTZ AS {identifier(timestamp_column)}",
            *(identifier(c) for c in carry or []),
        ]
    )
    selects: list[str] = []
    joins: list[str] = []
    for number, view in enumerate(views):
        alias = f"v{number}"
        on = [f"e.{identifier(k)} = {alias}.{identifier(k)}" for k in view.keys]
        if view.created is None:
            # Feast keeps an arbitrary one of rows tied on event time; so does this.
            on.append(f"{entity_ts} >= {alias}.__ts")
        else:
            bound = f"epoch_us({entity_ts})::HUGEINT * {_SHIFT} + {_SHIFT - 1}"
            on.append(f"{bound} >= {alias}.__order")
        source = _view_sql(view, bool(prune and prune[number]))
        joins.append(f"ASOF LEFT JOIN ({source}) AS {alias} ON {' AND '.join(on)}")
        rules = []
        if view.ttl is not None:
            micros = int(view.ttl / timedelta(microseconds=1))
            if view.created is None:
                rules.append(f"{alias}.__ts >= {entity_ts} - INTERVAL ({micros}) MICROSECONDS")
            else:
                rules.append(f"({alias}.__order >> 64) >= epoch_us({entity_ts}) - {micros}")
        if view.stale_after is not None:
            stale_us = int((view.stale_after - _EPOCH) / timedelta(microseconds=1))
            rules.append(f"epoch_us({entity_ts}) <= {stale_us}")
        fresh = " AND ".join(rules) or None
        outputs = {out: f"{alias}.{identifier(out)}" for out in view.features}
        if source_timestamps:
            matched = (
                f"{alias}.__ts"
                if view.created is None
                else f"make_timestamp(({alias}.__order >> 64)::BIGINT)::TIMESTAMPTZ"
            )
            outputs[source_timestamp_column(view.name)] = matched
        for out, value in outputs.items():
            if fresh is not None:
                value = f"CASE WHEN {fresh} THEN {value} END"
            selects.append(f"{value} AS {identifier(out)}")
    return (
        f"SELECT {', '.join([f'e.{_ROW_ID}', *(f'e.{identifier(c)}' for c in passed), *selects])} "
        f"FROM (SELECT {entity_columns} FROM entities) AS e "
        f"{' '.join(joins)}"
    )


def _transform(view: OnDemandFeatureView, table: pa.Table, full_feature_names: bool) -> pa.Table:
    """``view.transform_arrow(table, full_feature_names)``, and for a python-mode view the same
    steps with the input's timestamps made Python objects by :func:`python_columns` instead of
    pyarrow's ``to_pydict``, which spends ~30 µs on each aware timestamp (6 s for 200k rows of
    one column here) where the function itself takes a few.

    Feast 0.67's python mode is ``Table.from_pydict(udf(table.to_pydict()))`` between the view's
    ``_preprocess_arrow_table`` and ``_postprocess_arrow_table`` (both short and full input
    names, then the output names). Those two are called here, not copied; the equivalence tests
    (tests/offline/test_store.py) compare the result with Feast's own path, and a Feast without
    them gets its public ``transform_arrow``.
    """
    preprocess = getattr(view, "_preprocess_arrow_table", None)
    postprocess = getattr(view, "_postprocess_arrow_table", None)
    transformation = view.feature_transformation
    udf = getattr(transformation, "udf", None)
    if view.mode != "python" or preprocess is None or postprocess is None or udf is None:
        return view.transform_arrow(table, full_feature_names)
    table, cleanup = preprocess(table)
    transformed = pa.Table.from_pydict(udf(python_columns(table)))
    return postprocess(transformed, cleanup, full_feature_names)


def python_columns(table: pa.Table) -> dict[str, list[Any]]:
    """``table.to_pydict()``, value for value (aware timestamps are datetimes in the column's
    zone, nulls None), with timestamps of second to microsecond units converted by numpy."""
    columns: dict[str, list[Any]] = {}
    # The view's preprocessing adds each input again under its other name: the same buffers,
    # converted once (two lists, the same immutable datetimes in both).
    converted: dict[tuple[Any, ...], list[Any]] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if not pa.types.is_timestamp(kind) or kind.unit == "ns":
            columns[name] = column.to_pylist()
            continue
        same = (
            str(kind),
            *(
                (chunk.offset, len(chunk), *(b.address if b else 0 for b in chunk.buffers()))
                for chunk in column.chunks
            ),
        )
        if same in converted:
            columns[name] = list(converted[same])
            continue
        # numpy makes naive datetimes of the UTC instants (NaT -> None) at C speed.
        values = column.to_numpy(zero_copy_only=False).astype("datetime64[us]").tolist()
        if kind.tz is not None:
            zone = pa.lib.string_to_tzinfo(kind.tz)
            if kind.tz == "UTC":
                # UTC wall time is the instant: attaching the zone is the conversion.
                values = [None if value is None else value.replace(tzinfo=zone) for value in values]
            else:
                utc = timezone.utc
                values = [
                    None if value is None else value.replace(tzinfo=utc).astimezone(zone)
                    for value in values
                ]
        columns[name] = converted[same] = values
    return columns


# Reading only the feature rows of the entity frame's entities pays (a semi join) when the frame
# is small next to the table: at 100k entity rows against 6M feature rows it saves a quarter of
# the join, at 1M rows it costs a third more.
_PRUNE_BELOW = 0.1


def _worth_pruning(connection: duckdb.DuckDBPyConnection, view: _ViewPlan, rows: int) -> bool:
    """Whether the entity frame is small next to the view's table (from the Parquet footers)."""
    counted = connection.execute(
        "SELECT sum(num_rows) FROM parquet_file_metadata("
        f"{feature_tables.list_sql(view.files or [view.path])})"
    ).fetchall()
    table_rows = counted[0][0] if counted and counted[0][0] is not None else 0
    return rows < _PRUNE_BELOW * float(table_rows)


def _dated_partitions(views: list[_ViewPlan], times: pa.ChunkedArray) -> list[_ViewPlan]:
    """Each partitioned feature table (pitstop.feature_tables) read without the partitions
    dated after the latest entity row: a row at T is joined only to entity rows at T or later."""
    latest = pc.max(times).as_py()
    if latest is None:
        return views
    planned = []
    # Each features folder is resolved once (a link to a version folder, switched by a publish):
    # every partition of every view comes from one version (pitstop.build.versions).
    versions: dict[str, Path] = {}
    for view in views:
        folder = Path(view.path.removesuffix("*.parquet"))
        if view.path.endswith("/*.parquet") and folder.is_dir():
            version = versions.setdefault(str(folder.parent), folder.parent.resolve())
            until = latest.astimezone(timezone.utc).date()
            files = feature_tables.files(version / folder.name, until=until)
            view = dataclasses.replace(view, files=[str(file) for file in files])
        planned.append(view)
    return planned


def _run_join(entities: pa.Table, timestamp_column: str, views: list[_ViewPlan]) -> pa.Table:
    """The feature columns, one row per entity row in the entity table's order."""
    needed = list(dict.fromkeys(key for view in views for key in view.keys))
    missing = [key for key in needed if key not in entities.column_names]
    if missing:
        from feast.errors import FeastEntityDFMissingColumnsError

        raise FeastEntityDFMissingColumnsError(  # type: ignore[no-untyped-call]
            set(needed), set(missing)
        )
    keys_only = entities.select([*needed, timestamp_column]).append_column(
        _ROW_ID, pa.array(np.arange(entities.num_rows, dtype=np.int64))
    )
    # Zone-less feature timestamps are UTC, and results come back in UTC.
    with spill.connect() as connection:
        connection.register("entities", keys_only)
        views = _dated_partitions(views, entities.column(timestamp_column))
        prune = [_worth_pruning(connection, view, entities.num_rows) for view in views]
        result = connection.sql(_join_sql(views, timestamp_column, prune)).to_arrow_table()
    # Back to the entity rows' order: the row numbers are a permutation, so inverting it is one
    # pass (an ORDER BY in the query costs a sort, about a sixth of the join).
    rows = result.column(_ROW_ID).to_numpy()
    order = np.empty(len(rows), dtype=np.int64)
    order[rows] = np.arange(len(rows), dtype=np.int64)
    return result.drop_columns([_ROW_ID]).take(order)
