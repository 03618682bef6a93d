"""Training sets: a point-in-time join of an entity file against the feature tables, via Feast.

This module runs the job; the entity file's rules are :mod:`pitstop.offline.entity_file`, a
time range's spine :mod:`pitstop.offline.spine`, the output :mod:`pitstop.offline.result`, and
what it asks of Feast :mod:`pitstop.feast_adapter.repo`.

    from pitstop import Settings
    from pitstop.offline import build_training_set

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

- one-line errors before any heavy work (missing columns, string keys, unknown service); the
  rows are then checked as Arrow columns and go to pitstop's offline store as an Arrow table
  (a pandas frame only for another store);
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
  each view's ``<view>__event_timestamp`` for :mod:`pitstop.offline.audit`;
- types: integer features are pandas' nullable ``Int64`` (Feast returns float64 as soon as a
  column has a null, int64 otherwise, so the type would depend on the data); float features
  stay float64 with NaN for null (written as Parquet nulls); timestamps are UTC, microseconds.
"""

from __future__ import annotations

import functools
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pitstop.errors import EntityColumnClashError, InvalidInputError
from pitstop.feast_adapter import repo
from pitstop.feast_adapter.repo import REQUEST_TIME, ServiceInputs
from pitstop.offline import entity_file
from pitstop.offline.entity_file import ENTITY_TIMESTAMP
from pitstop.offline.result import restore_shape, write_parquet, write_streamed
from pitstop.offline.spine import TimeRange, write_spine
from pitstop.progress import Progress, stage
from pitstop.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore

__all__ = [
    "ENTITY_TIMESTAMP",
    "REQUEST_TIME",
    "TimeRange",
    "TrainingSetReport",
    "build_training_set",
]


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


def build_training_set(
    settings: Settings,
    *,
    feature_service: str,
    entities: Path | TimeRange,
    out: Path,
    echo: Callable[[str], None] | None = None,
    stream: bool = True,
    source_timestamps: bool = False,
    progress: bool = False,
) -> TrainingSetReport:
    """Join ``feature_service``'s features onto the rows of ``entities`` and write Parquet to
    ``out``.

    ``echo`` receives notes about the input (a naive timestamp read as UTC); by default they go
    to stderr. With pitstop's offline store the result goes to ``out`` in Arrow batches, never
    whole in memory; ``stream=False`` (or another offline store) builds it as one pandas frame
    from ``to_df()`` first. Both write the same file. Raises :class:`MissingInputError` before
    ``pitstop build``/``apply``, :class:`UnknownFeatureServiceError`, :class:`InvalidInputError`
    for an unusable entity file, and :class:`FeastError` when Feast itself fails.
    ``progress``: the stages and a line of rows joined, on stderr.
    """
    started = time.perf_counter()
    note = echo or _to_stderr
    repo.require_registry(settings)
    join = functools.partial(
        _join,
        out=Path(out),
        note=note,
        stream=stream,
        source_timestamps=source_timestamps,
        started=started,
        progress=progress,
    )
    if isinstance(entities, TimeRange):
        _check_out(Path(out), None)
        # The store is opened and the service resolved once, for the spine and the join.
        _stage("opening the feature store (Feast's registry)", progress)
        store, service, needs = _resolve(settings, feature_service)
        _stage("writing the entity rows of the range", progress)
        with tempfile.TemporaryDirectory(prefix="pitstop-spine-") as folder:
            spine = Path(folder) / "spine.parquet"
            write_spine(settings, store, service, needs, entities, spine, note)
            header = entity_file.columns(spine)
            return join(store, service, needs, spine, header)
    path = Path(entities)
    _check_out(Path(out), path)
    header = entity_file.columns(path)  # before opening Feast: a wrong file fails fast
    if ENTITY_TIMESTAMP not in header:
        raise InvalidInputError(
            f"{path} has no `{ENTITY_TIMESTAMP}` column (columns: {', '.join(header)})"
        )
    _stage("opening the feature store (Feast's registry)", progress)
    store, service, needs = _resolve(settings, feature_service)
    return join(store, service, needs, path, header)


def _check_out(out: Path, entities: Path | None) -> None:
    """Refuse an output path that cannot take the file, or that is the entity file itself
    (the result would replace the input)."""
    if out.is_dir():
        raise InvalidInputError(f"--out {out} is a directory; give the path of a Parquet file")
    folder = next((parent for parent in out.parents if parent.exists()), None)
    if folder is not None and not folder.is_dir():
        raise InvalidInputError(f"--out {out}: {folder} is a file, not a folder")
    if entities is not None and out.exists() and entities.exists() and out.samefile(entities):
        raise InvalidInputError(
            f"--out {out} is the entity file; writing there would replace the input: "
            "give another path"
        )


def _resolve(
    settings: Settings, feature_service: str
) -> tuple[FeatureStore, FeatureService, ServiceInputs]:
    """The store, the feature service and what it needs, read from the registry once."""
    store = repo.open_store(settings)
    service = repo.feature_service(store, feature_service)
    return store, service, repo.service_inputs(store, service)


def _join(
    store: FeatureStore,
    service: FeatureService,
    needs: ServiceInputs,
    entities: Path,
    header: list[str],
    *,
    out: Path,
    note: Callable[[str], None],
    stream: bool,
    source_timestamps: bool,
    started: float,
    progress: bool,
) -> TrainingSetReport:
    """The entity file (its columns ``header``) checked against what the service needs,
    joined, and written."""
    missing = [key for key in needs.join_keys if key not in header]
    if missing:
        raise InvalidInputError(
            f"{entities} lacks the join key column(s) {', '.join(missing)} that "
            f"{service.name} needs (it joins on {', '.join(needs.join_keys)})"
        )
    entity_file.check_key_types(entities, needs.join_keys)
    clashes = [name for name in header if name in needs.features]
    if clashes:
        raise EntityColumnClashError(
            f"{entities} has column(s) named like features of {service.name}: "
            f"{', '.join(clashes)}; rename them"
        )

    table = entity_file.read(entities)
    entity_columns = list(table.column_names)
    table = entity_file.prepare(table, entities, needs, note)
    # pitstop's offline store takes the Arrow rows as they are, streams, and can add each
    # view's source timestamps; another store gets a pandas frame (Feast's imported by now:
    # the store is open)
    from pitstop.offline.store import PitstopOfflineStoreConfig, PitstopRetrievalJob

    pitstop_store = isinstance(store.config.offline_store, PitstopOfflineStoreConfig)
    job = repo.historical_job(store, service, table if pitstop_store else table.to_pandas())
    del table

    extra: list[str] = []
    if source_timestamps:
        if not isinstance(job, PitstopRetrievalJob):
            raise InvalidInputError(
                "source timestamps need pitstop's offline store (feature_store.yaml offline_store)"
            )
        job.with_source_timestamps = True
        extra = list(job.source_timestamp_columns)
    if isinstance(job, PitstopRetrievalJob) and (stream or extra):
        label = f"training-set {service.name}"
        with Progress(label, job.entity_rows, enabled=progress) as bar:
            rows, nulls = write_streamed(job, out, entity_columns, needs, extra, bar.advance)
        null_share = {name: (nulls[name] / rows if rows else 0.0) for name in needs.features}
    else:
        result = repo.run_feast(lambda: job.to_df())
        result = restore_shape(result, entity_columns, needs)
        write_parquet(result, out)
        rows = len(result)
        null_share = {
            name: (float(result[name].isna().mean()) if rows else 0.0) for name in needs.features
        }
    return TrainingSetReport(
        feature_service=service.name,
        path=out,
        rows=rows,
        columns=[*entity_columns, *needs.features, *extra],
        features=list(needs.features),
        seconds=time.perf_counter() - started,
        null_share=null_share,
    )


def _stage(what: str, enabled: bool) -> None:
    stage("training-set", what, enabled=enabled)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)
