"""One materialization: for every online view, write the changed entities, then the state.

The views come from the registry snapshot the API reads too (:mod:`pitstop.online.registry`),
and the rows go through the online store's own writer (:mod:`pitstop.online.stores`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from pathlib import Path

import pyarrow as pa

from pitstop import coverage, feature_tables
from pitstop.errors import (
    ConfigurationError,
    EngineError,
    FeastError,
    OnlineStoreUnavailableError,
    engine_error_line,
    is_engine_error,
    one_line,
    redacted,
)
from pitstop.feast_adapter import repo
from pitstop.feast_adapter.config import feast_config
from pitstop.materialize import changes
from pitstop.online.registry import ViewDef, open_registry
from pitstop.online.stores import OnlineStore, open_online_store
from pitstop.progress import Progress
from pitstop.settings import MATERIALIZE_MEMORY_ENV, Settings

# Entities of the previous state looked up in the store before an incremental run: if any is
# missing, the store lost data (flushed, file deleted) and the view is rewritten in full.
SAMPLE_ENTITIES = 64


def online_views(settings: Settings) -> tuple[str, list[ViewDef]]:
    """The project and its online views, from the registry the settings name."""
    version = feast_config(settings).get("entity_key_serialization_version", 3)
    if version != 3:
        raise ConfigurationError(
            "pitstop's materializer writes entity keys in Feast's version 3; "
            f"feature_store.yaml says {version}"
        )
    project, source = open_registry(settings)
    views = [view for view in source.read().views.values() if view.online]
    for view in views:
        if view.source is None or not view.source.path:
            raise ConfigurationError(f"view {view.name}: its batch source is not a file")
    return project, views


def source_table(settings: Settings, view: ViewDef) -> Path:
    """The view's feature table in this data folder, under the file name the registry records
    (a registry shared by several data folders, a SQL registry, still reads the local tables)."""
    assert view.source is not None, view.name
    name = feature_tables.name_of(view.source.path)
    return feature_tables.table_path(settings.features_dir, name)


def open_writer(settings: Settings, project: str) -> OnlineStore:
    """The online store of ``settings`` for bulk writes: Feast's SQLite file or Redis."""
    store = open_online_store(settings, project, bulk=True)
    if settings.online_store == "redis":
        try:
            store.ping()
        except OnlineStoreUnavailableError as error:
            store.close()
            cause = error.__cause__ or error
            raise FeastError(
                f"cannot reach Redis at {redacted(settings.redis_url)} ({one_line(cause)}); "
                "start it or set PITSTOP_REDIS_URL"
            ) from error
    return store


def materialize(
    settings: Settings,
    *,
    full: bool = False,
    end: dt.datetime | None = None,
    batch_rows: int | None = None,
    progress: bool = False,
    throttle_seconds: float = 0.0,
) -> repo.MaterializeReport:
    """Write each online view's changed entities (every entity with ``full``) online.

    ``end`` (default now) bounds the rows read, as ``feast materialize``'s end date.
    ``batch_rows`` (default ``settings.materialize_batch_rows``) bounds the memory: one batch
    is read, encoded and committed at a time. ``throttle_seconds`` pauses after each batch
    (to spare a busy online store).
    """
    repo.require_registry(settings)
    started = time.perf_counter()
    end = end or dt.datetime.now(dt.timezone.utc)
    rows = batch_rows or settings.materialize_batch_rows
    try:
        project, views = online_views(settings)
    except Exception as error:
        raise FeastError(f"materialize failed: {one_line(error)}") from error
    written: dict[str, int] = {}
    all_full = True
    writing = time.perf_counter()
    writer = open_writer(settings, project)
    try:
        writer.create_tables(views)  # a deleted SQLite file comes back empty
        changed = [view for view in views if _layout_changed(settings, project, writer, view)]
        for view in views:
            try:
                count, was_full = _materialize_view(
                    settings, writer, project, view, end, rows, full, progress, throttle_seconds
                )
            except Exception as error:
                if not is_engine_error(error):
                    raise
                # The view's state is not committed: the next run writes its changes again.
                memory = f"{MATERIALIZE_MEMORY_ENV} (now {settings.materialize_memory})"
                raise EngineError(f"{view.name}: {engine_error_line(error, memory)}") from error
            written[view.name] = count
            all_full = all_full and was_full
        if changed:
            # A feature removed from a view leaves the store and the API with it
            # (docs/architecture.md §3, "Declared once").
            writer.forget_features(views)
    finally:
        writer.close()
    return repo.MaterializeReport(
        views=[view.name for view in views],
        end=end,
        seconds=time.perf_counter() - started,
        method="pitstop",
        entities=written,
        peak_memory_bytes=repo.peak_memory_bytes(),
        full=all_full,
        write_seconds=time.perf_counter() - writing,
    )


def _materialize_view(
    settings: Settings,
    writer: OnlineStore,
    project: str,
    view: ViewDef,
    end: dt.datetime,
    batch_rows: int,
    full: bool,
    progress: bool,
    throttle_seconds: float,
) -> tuple[int, bool]:
    state = changes.state_path(settings.online_state_dir, view.name)
    identity = changes.state_identity(project, view, writer.identity)
    previous = None if full else _usable_state(state, identity)
    change_set = changes.ChangeSet(
        view,
        source_table(settings, view),
        end=end,
        previous_state=previous,
        temp_dir=settings.temp_dir,
        memory_limit=settings.materialize_memory,
    )
    with contextlib.closing(change_set):
        if previous is not None and not _store_has(writer, view, change_set):
            change_set.close()
            return _materialize_view(
                settings, writer, project, view, end, batch_rows, True, progress, throttle_seconds
            )
        total = change_set.changed_rows
        with Progress(f"materialize {view.name}", total, enabled=progress) as bar:
            ordered = writer.writes_in_key_order
            for batch in change_set.batches(batch_rows, in_key_order=ordered):
                writer.write_batch(view, batch)
                bar.advance(batch.num_rows)
                if throttle_seconds:
                    time.sleep(throttle_seconds)
        writer.mark_complete(view)
        writer.record_coverage(view.online_name, _covered_until(settings, view, end))
        change_set.commit_state(state, identity)
        return change_set.changed_rows, previous is None


def _covered_until(settings: Settings, view: ViewDef, end: dt.datetime) -> float | None:
    """How far the written data reaches: its table's coverage, or ``end`` if earlier (the
    rows after it were not read); None when the table records none (pitstop.coverage)."""
    covered = coverage.of_table(source_table(settings, view))
    return None if covered is None else min(covered, end).timestamp()


def _layout_changed(settings: Settings, project: str, writer: OnlineStore, view: ViewDef) -> bool:
    """Whether the view's last materialization into this store wrote another layout (other
    features, keys or types): the registry changed since."""
    state = changes.state_path(settings.online_state_dir, view.name)
    recorded = changes.read_state_identity(state) if state.exists() else None
    if recorded is None or recorded.get("store") != writer.identity:
        return False
    return recorded.get("view") != changes.state_identity(project, view, writer.identity)["view"]


def _usable_state(path: Path, identity: dict[str, str]) -> Path | None:
    """The previous state if it was written by this materializer for this view and store."""
    if not path.exists():
        return None
    return path if changes.read_state_identity(path) == identity else None


def _store_has(writer: OnlineStore, view: ViewDef, change_set: changes.ChangeSet) -> bool:
    """Whether the store still holds a sample of the entities the state says were written."""
    sample: pa.Table = change_set.sample_keys(SAMPLE_ENTITIES)
    return writer.present(view, sample) == int(sample.num_rows)
