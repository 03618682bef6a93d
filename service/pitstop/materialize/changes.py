"""Which entities to write: the latest row per entity, minus what the online store already has.

DuckDB reads the view's Parquet feature table and keeps each entity's latest row (the newest
``event_timestamp``, then ``created_timestamp``, within ``[1970, end]``: the rows
``feast materialize`` with ``pull_latest_features`` would write). Each row gets a hash of its
timestamps and features. The *state* of a view, ``<data>/online_state/<view>.parquet``, holds
the join keys, event_timestamp and hash of every entity last written to the online store; the
rows to write are those whose (join keys, hash) pair is not in it: new entities, changed
values, newer timestamps. Without a usable state (none, another store, another view layout,
``--full``) every latest row is written.

The state is replaced (:meth:`ChangeSet.commit_state`, a temporary file renamed over the old
one) only after every write of the view has been committed, so a run that dies leaves the old
state and the next run writes again whatever may not have been written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pitstop import feature_tables, spill, sql
from pitstop.online import codec
from pitstop.online.registry import ViewDef
from pitstop.online.value_types import number_of

ROW_HASH = "__pitstop_row_hash"
# Written into the state's Parquet metadata; a state whose values differ is not used.
STATE_FORMAT = "pitstop-online-state-1"
# The state's metadata entry naming the table files it was computed from (file_versions).
PARTITIONS_KEY = "partitions"


def state_path(state_dir: Path, view: str) -> Path:
    return state_dir / f"{view}.parquet"


def layout_fingerprint(project: str, view: ViewDef) -> str:
    """What the view's online rows depend on (table, timestamp, join keys, features and their
    ValueType numbers); a change means a full rewrite."""
    assert view.source is not None, view.name
    parts = [project, codec.table_name(project, view.online_name), view.source.timestamp_field]
    parts += [
        f"{column.name}:{number_of(column.value_type)}"
        for column in (*view.entity_columns, *view.features)
    ]
    return "|".join(parts)


def state_identity(project: str, view: ViewDef, store_identity: str) -> dict[str, str]:
    """What a state describes: the view's layout and the online store it was written to."""
    return {
        "format": STATE_FORMAT,
        "view": layout_fingerprint(project, view),
        "store": store_identity,
        "duckdb": duckdb.__version__,  # hash() may change between versions
    }


def read_state_identity(path: Path) -> dict[str, str] | None:
    """The identity a state file was written with, None without a readable state."""
    metadata = _state_metadata(path)
    if metadata is None:
        return None
    return {key: value for key, value in metadata.items() if key != PARTITIONS_KEY}


def _state_metadata(path: Path) -> dict[str, str] | None:
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None
    return {key.decode(): value.decode() for key, value in metadata.items()}


def file_versions(table: Path, end: dt.datetime) -> dict[str, str]:
    """The partitions of a feature table wholly at or before ``end``, by snapshot date, each
    with what changes when it is replaced: its files' names (a publish writes a rewritten
    partition under a new name) and, for each, inode, size and time (an unchanged partition is
    hard-linked: the same). A partition ``end`` cuts is left out: the next run reads it again."""
    versions: dict[str, list[str]] = {}
    for file in feature_tables.files(table):
        day = feature_tables.partition_date(file)
        if day is None or _midnight(day) + dt.timedelta(days=1) > end:
            continue
        stat = file.stat()
        version = f"{file.name}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"
        versions.setdefault(day.isoformat(), []).append(version)
    return {day: "|".join(version) for day, version in versions.items()}


def rewritten_since(
    before: dict[str, str], now: dict[str, str], table: list[Path], end: dt.datetime
) -> dt.date | None:
    """The earliest snapshot date to read from (``date.max``: nothing to read), given the
    partitions a run saw (``before``, file_versions), those seen now and every file of the
    table: the earliest partition up to ``end`` that is new, replaced, or was not read whole.
    None when the whole table must be read: it has a file that is not a dated partition (plain
    dbt's output), or a snapshot date the last run read went away (or a state that recorded
    file names, before file_versions recorded dates: one whole read writes a new one).

    (The rule assumes rows are only added and changed, never removed, as in pitstop's marts:
    an entity whose latest row changed has a row in a replaced partition. After removing rows
    from a table of one's own, ``pitstop materialize --full``.)"""
    if set(before) - set(now):
        return None
    dated = []
    for file in table:
        day = feature_tables.partition_date(file)
        if day is None:
            if file.name != feature_tables.SCHEMA_FILE:
                return None
        elif _midnight(day) <= end and now.get(day.isoformat()) != before.get(day.isoformat(), ""):
            dated.append(day)
    return min(dated, default=dt.date.max)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.timezone.utc)


class ChangeSet:
    """The rows to write for one view, around a DuckDB connection (:meth:`close` it)."""

    def __init__(
        self,
        view: ViewDef,
        source: Path,
        *,
        end: dt.datetime,
        previous_state: Path | None,
        temp_dir: Path,
        memory_limit: str,
    ) -> None:
        assert view.source is not None, view.name
        self.view = view
        self._spill = contextlib.ExitStack()
        self._connection = self._spill.enter_context(
            spill.connect(temp_dir, memory_limit=memory_limit)
        )
        for statement in (
            "set preserve_insertion_order = false",
            "set enable_progress_bar = false",
        ):
            self._connection.execute(statement)
        keys = [sql.identifier(column.name) for column in view.entity_columns]
        ts = sql.identifier(view.source.timestamp_field)
        created_column = view.source.created_timestamp_column
        created = sql.identifier(created_column) if created_column else None
        features = [sql.identifier(column.name) for column in view.features]
        ordered = [ts] + ([created] if created else [])
        selected = keys + ordered + features
        end_utc = end.astimezone(dt.timezone.utc).replace(tzinfo=None)
        # With a state that says which table files it saw, only the partitions from the
        # earliest one rewritten since are read: an entity whose latest row changed has a row
        # there, and every other entity's latest row is as the state has it.
        source = source.resolve()  # one version of the table (pitstop.build.versions)
        self.files = file_versions(source, end)
        since = None
        if previous_state is not None:
            recorded = (_state_metadata(previous_state) or {}).get(PARTITIONS_KEY)
            if recorded is not None:
                table = feature_tables.files(source)
                since = rewritten_since(json.loads(recorded), self.files, table, end)
        self.partial = since is not None
        read = (
            [str(file) for file in feature_tables.files(source, since=since)]
            if since is not None
            else [feature_tables.glob(source)]
        )
        self._connection.execute(
            f"""
            create temp table latest as
            select {", ".join(selected)}, hash({", ".join(ordered + features)}) as {ROW_HASH}
            from {feature_tables.read_sql(read)}
            where {ts} >= timestamp '1970-01-01' and {ts} <= ?::timestamp
            qualify row_number() over (
                partition by {", ".join(keys)} order by {" desc, ".join(ordered)} desc
            ) = 1
            """,
            [end_utc],
        )
        self._keys = keys
        self._ts = ts
        self._selected = selected
        self._previous = previous_state
        self.latest_rows = self._count("select * from latest")
        self.changed_rows = self._count(self._changed_sql())

    def _count(self, query: str) -> int:
        rows = self._connection.execute(f"select count(*) from ({query})").fetchall()
        return int(rows[0][0])

    def _changed_sql(self) -> str:
        columns = ", ".join(f"l.{name}" for name in self._selected)
        if self._previous is None:
            return f"select {columns} from latest l"
        previous = sql.literal(self._previous)
        return (
            f"select {columns} from latest l anti join read_parquet({previous}) s "
            f"on {' and '.join(f'l.{k} = s.{k}' for k in self._keys)} "
            f"and l.{ROW_HASH} = s.{ROW_HASH}"
        )

    def batches(self, rows: int, *, in_key_order: bool = False) -> Iterator[pa.RecordBatch]:
        """The changed rows in Arrow batches of at most ``rows`` rows.

        ``in_key_order``: sorted by the serialized entity key when the view has one int64 join
        key (a SQLite store's B-trees then grow at their end, batch after batch, instead of
        every batch touching pages all over the table).
        """
        query = self._changed_sql()
        if (
            in_key_order
            and len(self.view.entity_columns) == 1
            and self.view.entity_columns[0].value_type == "INT64"
        ):
            # The key ends with the value's 8 little-endian bytes: compare them in that order.
            key = self._keys[0]
            query += " order by " + ", ".join(f"({key} >> {8 * i}) & 255" for i in range(8))
        reader = self._connection.sql(query).to_arrow_reader(rows)
        for batch in reader:
            if batch.num_rows:
                yield batch

    def sample_keys(self, rows: int) -> pa.Table:
        """Up to ``rows`` entities of the previous state (to check the store still has them)."""
        if self._previous is None:
            return pa.table({})
        keys = ", ".join(self._keys)
        return self._connection.sql(
            f"select {keys} from read_parquet({sql.literal(self._previous)}) "
            f"using sample reservoir({int(rows)} rows)"
        ).to_arrow_table()

    def commit_state(self, path: Path, identity: dict[str, str]) -> None:
        """Replace the view's state with the latest rows (after their writes are committed)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        columns = f"{', '.join(self._keys)}, {self._ts}, {ROW_HASH}"
        query = f"select {columns} from latest"
        if self.partial and self._previous is not None:
            # the entities read this time replace theirs; the others keep what was written
            previous = sql.literal(self._previous)
            query += (
                f" union all select {columns} from read_parquet({previous}) s "
                f"anti join latest l on {' and '.join(f'l.{k} = s.{k}' for k in self._keys)}"
            )
        reader = self._connection.sql(query).to_arrow_reader(100_000)
        metadata = {**identity, PARTITIONS_KEY: json.dumps(self.files, sort_keys=True)}
        schema = reader.schema.with_metadata(metadata)
        with pq.ParquetWriter(temporary, schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        temporary.replace(path)

    def close(self) -> None:
        self._spill.close()
