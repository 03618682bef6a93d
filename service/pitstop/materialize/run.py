"""One materialization: for every online view, write the changed entities, then the state."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pyarrow as pa

from pitstop import feast_repo
from pitstop.errors import FeastError, one_line
from pitstop.materialize import changes
from pitstop.materialize.progress import Progress
from pitstop.materialize.redis_store import RedisWriter
from pitstop.materialize.sqlite_store import SqliteWriter
from pitstop.materialize.views import ViewSpec, read_registry
from pitstop.settings import Settings

# Entities of the previous state looked up in the store before an incremental run: if any is
# missing, the store lost data (flushed, file deleted) and the view is rewritten in full.
SAMPLE_ENTITIES = 64

Writer = SqliteWriter | RedisWriter


def open_writer(settings: Settings) -> Writer:
    """The online store of ``settings``: Feast's SQLite file or the Redis database."""
    if settings.online_store == "redis":
        try:
            return RedisWriter(settings.redis_url)
        except Exception as error:  # redis raises its own ConnectionError family
            raise FeastError(
                f"cannot reach Redis at {settings.redis_url} ({one_line(error)}); "
                "start it or set PITSTOP_REDIS_URL"
            ) from error
    return SqliteWriter(settings.online_store_path)


def materialize(
    settings: Settings,
    *,
    full: bool = False,
    end: dt.datetime | None = None,
    batch_rows: int | None = None,
    progress: bool = False,
    throttle_seconds: float = 0.0,
) -> feast_repo.MaterializeReport:
    """Write each online view's changed entities (every entity with ``full``) online.

    ``end`` (default now) bounds the rows read, as ``feast materialize``'s end date.
    ``batch_rows`` (default ``settings.materialize_batch_rows``) bounds the memory: one batch
    is read, encoded and committed at a time. ``throttle_seconds`` pauses after each batch
    (to spare a busy online store).
    """
    feast_repo.require_registry(settings)
    started = time.perf_counter()
    end = end or dt.datetime.now(dt.timezone.utc)
    rows = batch_rows or settings.materialize_batch_rows
    store = feast_repo.open_store(settings)
    try:
        registry = read_registry(settings, store)
        if settings.online_store == "sqlite":
            # Feast creates its tables (its schema); a deleted file comes back empty.
            feast_repo.ensure_online_tables(store)
    except Exception as error:
        raise FeastError(f"materialize failed: {one_line(error)}") from error
    written: dict[str, int] = {}
    all_full = True
    writing = time.perf_counter()
    writer = open_writer(settings)
    try:
        for spec in registry.views:
            count, was_full = _materialize_view(
                settings, writer, spec, end, rows, full, progress, throttle_seconds
            )
            written[spec.name] = count
            all_full = all_full and was_full
    finally:
        writer.close()
    return feast_repo.MaterializeReport(
        views=[spec.name for spec in registry.views],
        end=end,
        seconds=time.perf_counter() - started,
        method="pitstop",
        entities=written,
        peak_memory_bytes=feast_repo.peak_memory_bytes(),
        full=all_full,
        write_seconds=time.perf_counter() - writing,
    )


def _materialize_view(
    settings: Settings,
    writer: Writer,
    spec: ViewSpec,
    end: dt.datetime,
    batch_rows: int,
    full: bool,
    progress: bool,
    throttle_seconds: float,
) -> tuple[int, bool]:
    state = changes.state_path(settings.online_state_dir, spec.name)
    identity = changes.state_identity(spec, writer.identity)
    previous = None if full else _usable_state(state, identity)
    with changes.ChangeSet(
        spec,
        end=end,
        previous_state=previous,
        temp_dir=settings.temp_dir,
        memory_limit=settings.materialize_memory,
    ) as change_set:
        if previous is not None and not _store_has(writer, spec, change_set):
            change_set.close()
            return _materialize_view(
                settings, writer, spec, end, batch_rows, True, progress, throttle_seconds
            )
        with Progress(spec.name, change_set.changed_rows, enabled=progress) as bar:
            ordered = isinstance(writer, SqliteWriter)
            for batch in change_set.batches(batch_rows, in_key_order=ordered):
                writer.write(spec, batch)
                bar.advance(batch.num_rows)
                if throttle_seconds:
                    time.sleep(throttle_seconds)
        writer.mark_complete(spec)
        change_set.commit_state(state, identity)
        return change_set.changed_rows, previous is None


def _usable_state(path: Path, identity: dict[str, str]) -> Path | None:
    """The previous state if it was written by this materializer for this view and store."""
    if not path.exists():
        return None
    return path if changes.read_state_identity(path) == identity else None


def _store_has(writer: Writer, spec: ViewSpec, change_set: changes.ChangeSet) -> bool:
    """Whether the store still holds a sample of the entities the state says were written."""
    sample: pa.Table = change_set.sample_keys(SAMPLE_ENTITIES)
    return writer.present(spec, sample) == int(sample.num_rows)
