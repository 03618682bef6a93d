"""Writes Feast's SQLite online tables: one transaction per batch, WAL so readers never wait.

The rows are those ``SqliteOnlineStore.online_write_batch`` writes (Feast 0.67): per entity and
feature ``(entity_key, feature_name, value, value_text, event_ts, created_ts)``, upserted on
``(entity_key, feature_name)`` unless the stored row is newer (a value pushed since the build:
newest wins, as for a push). The tables are created by Feast itself (``update_infra``, see
:func:`pitstop.feast_repo.ensure_online_tables`), so their schema is Feast's.

Every batch is one transaction holding all features of its entities: a reader sees an entity
entirely before or entirely after the batch. The database is switched to WAL journaling (it
persists in the file): readers read the last committed state while a batch is being written,
with no "database is locked" error, and Feast's and pitstop's readers work with WAL unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from itertools import repeat
from pathlib import Path

import numpy as np
import pyarrow as pa

from pitstop.materialize import encoding
from pitstop.materialize.views import ViewSpec
from pitstop.online.stores import NEWEST_WINS

BUSY_TIMEOUT_MS = 60_000


class SqliteWriter:
    """The SQLite online store at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.identity = f"sqlite:{path}"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(path, isolation_level=None, timeout=60)
        self._connection.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS}")
        self._connection.execute("pragma journal_mode = wal")
        self._connection.execute("pragma synchronous = normal")
        self._connection.execute("pragma cache_size = -65536")  # 64 MiB

    def has_table(self, spec: ViewSpec) -> bool:
        row = self._connection.execute(
            "select count(*) from sqlite_master where type = 'table' and name = ?",
            [spec.table_id],
        ).fetchone()
        return bool(row and row[0])

    def present(self, spec: ViewSpec, keys: pa.Table) -> int:
        """How many of the entities ``keys`` (join key columns) have rows in the view's table."""
        if keys.num_rows == 0 or not self.has_table(spec):
            return 0
        serialized = _entity_keys(spec, keys).to_pylist()
        marks = ",".join("?" * len(serialized))
        row = self._connection.execute(
            f"select count(distinct entity_key) from {_quote(spec.table_id)} "
            f"where entity_key in ({marks})",
            serialized,
        ).fetchone()
        return int(row[0]) if row else 0

    def write(self, spec: ViewSpec, batch: pa.RecordBatch) -> None:
        """Upsert every feature of the batch's entities in one transaction."""
        batch = _in_key_order(spec, batch)
        keys = _entity_keys(spec, batch).to_pylist()
        event = encoding.sqlite_seconds(batch.column(spec.timestamp_field))
        created: list[int | None] | repeat[None] = (
            encoding.sqlite_seconds(batch.column(spec.created_timestamp_column))
            if spec.created_timestamp_column
            else repeat(None)
        )
        # One statement per entity with a VALUES row per feature, its key and times bound once
        # (numbered parameters) and the feature names written into the SQL: 3 + 2 parameters
        # per feature instead of 6, and the binding is most of what Python adds per row.
        columns: list[Iterable[object]] = [keys, event, created]
        for feature in spec.features:
            column = batch.column(feature.name)
            columns.append(encoding.value_bytes(column, feature.value_type).to_pylist())
            columns.append(encoding.value_text(column, feature.value_type))
        rows = zip(*columns)  # noqa: B905 - repeat() is endless; the lists are equally long
        connection = self._connection
        connection.execute("begin immediate")
        try:
            connection.executemany(_upsert_statement(spec), rows)
        except BaseException:
            connection.execute("rollback")
            raise
        connection.execute("commit")

    def mark_complete(self, spec: ViewSpec) -> None:
        """Nothing to do: a lost file or table is seen by :meth:`present`."""

    def close(self) -> None:
        self._connection.close()


def _upsert_statement(spec: ViewSpec) -> str:
    """Upsert one entity's features: ``?1`` its key, ``?2``/``?3`` its times, then per feature
    its value and ``value_text``."""
    rows = ", ".join(
        f"(?1, {_literal(feature.name)}, ?{4 + 2 * i}, ?{5 + 2 * i}, ?2, ?3)"
        for i, feature in enumerate(spec.features)
    )
    return (
        f"insert into {_quote(spec.table_id)} "
        f"(entity_key, feature_name, value, value_text, event_ts, created_ts) "
        f"values {rows} on conflict(entity_key, feature_name) do update set "
        "value = excluded.value, value_text = excluded.value_text, "
        "event_ts = excluded.event_ts, created_ts = excluded.created_ts "
        f"where {NEWEST_WINS.format(table=_quote(spec.table_id))}"
    )


def _entity_keys(spec: ViewSpec, table: pa.RecordBatch | pa.Table) -> pa.BinaryArray:
    columns = [_array(table.column(column.name)) for column in spec.join_keys]
    return encoding.entity_keys(
        [c.name for c in spec.join_keys], columns, [c.value_type for c in spec.join_keys]
    )


def _array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _in_key_order(spec: ViewSpec, batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch sorted by serialized entity key: inserts then walk the B-tree in order."""
    if len(spec.join_keys) != 1 or spec.join_keys[0].value_type != encoding.INT64:
        return batch
    values = batch.column(spec.join_keys[0].name).to_numpy(zero_copy_only=False)
    # The key ends with the value's little-endian bytes: byte order = those bytes read as a
    # big-endian unsigned number.
    order = np.argsort(values.astype("<i8").view(">u8"), kind="stable")
    return batch.take(pa.array(order))


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
