"""pitstop's SQLite online store, read and written: one class used by the lookup API (reads),
push (row writes), the materializer (bulk writes) and Feast (through
:mod:`pitstop.online.feast_store`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstop import sql
from pitstop.errors import OnlineStoreUnavailableError
from pitstop.online import codec
from pitstop.online.stores import NEWEST_WINS, ViewRead, ViewRows, WriteRow

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstop.online.registry import ViewDef

# How long a bulk writer waits for a table SQLite has locked (a reader never locks it in WAL).
BUSY_TIMEOUT_MS = 60_000


def open_write_connection(path: Path) -> sqlite3.Connection:
    """A connection for bulk writes to the SQLite store at ``path`` (created if missing): WAL
    journaling (it persists in the file: readers then read the last committed state while a
    batch is written, with no "database is locked"; Feast's readers work with WAL unchanged),
    transactions begun explicitly, a 64 MiB page cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
    connection.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("pragma journal_mode = wal")
    connection.execute("pragma synchronous = normal")
    connection.execute("pragma cache_size = -65536")
    return connection


class SqliteStore:
    """Feast's SQLite online store file.

    Lookups share one read-only connection, reopened when the file is replaced; a push opens
    a connection per write (a long-lived one would go on writing a replaced file); bulk writes
    keep one write connection (:func:`open_write_connection`) until :meth:`close`.
    """

    kind = "sqlite"
    writes_in_key_order = True

    def __init__(self, path: Path, project: str) -> None:
        self.path = path
        self.project = project
        self.identity = f"sqlite:{path}"
        self._connection: sqlite3.Connection | None = None
        self._inode: int | None = None
        self._sql_cache: dict[tuple[tuple[str, int, int], ...], str] = {}
        self._lock = threading.Lock()
        self._bulk_connection: sqlite3.Connection | None = None

    def table(self, view: str) -> str:
        return codec.table_name(self.project, view)

    def _connect(self) -> sqlite3.Connection:
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            self._drop()
            raise OnlineStoreUnavailableError(
                f"no online store at {self.path}; run `pitstop materialize` first"
            ) from None
        if self._connection is None or inode != self._inode:
            self._drop()
            connection = sqlite3.connect(self.path, check_same_thread=False, timeout=1.0)
            # Readers never write; with WAL (the materializer's mode) they never wait either.
            connection.execute("pragma query_only = on")
            # A lookup touches a few pages per entity: keep them in memory (64 MB of cache,
            # the file memory-mapped), about a fifth off a 100-entity read here.
            connection.execute("pragma cache_size = -65536")
            connection.execute("pragma mmap_size = 268435456")
            self._connection, self._inode = connection, inode
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = self._inode = None

    def read(self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]]) -> list[ViewRows]:
        shape = tuple(
            (read.view, len(read.features), len(view_keys))
            for read, view_keys in zip(reads, keys, strict=True)
        )
        sql = self._sql_cache.get(shape)
        if sql is None:
            sql = self._sql_cache[shape] = self._read_sql(shape)
        parameters: list[bytes | str] = [key for view_keys in keys for key in view_keys]
        for read in reads:
            parameters += read.features
        with self._lock:
            try:
                rows = self._connect().execute(sql, parameters).fetchall()
            except sqlite3.Error as error:
                self._drop()
                raise OnlineStoreUnavailableError(_sqlite_problem(error, self.path)) from error
        stamps: list[list[Any]] = [[None] * len(view_keys) for view_keys in keys]
        values: list[list[list[bytes | None]]] = [
            [[None] * len(view_keys) for _ in read.features]
            for read, view_keys in zip(reads, keys, strict=True)
        ]
        for index, row, feature, value, event_ts in rows:
            stamps[index][row] = event_ts  # a row of a feature not asked for counts too
            if feature is not None:
                values[index][feature][row] = value
        to_seconds = codec.sqlite_timestamp
        return [
            ViewRows(
                [None if stamp is None else to_seconds(stamp) for stamp in view_stamps], columns
            )
            for view_stamps, columns in zip(stamps, values, strict=True)
        ]

    def _read_sql(self, shape: tuple[tuple[str, int, int], ...]) -> str:
        """``with k0(row, key) as (values (0, ?), ...) select 0, k.row, case feature_name when ?
        then 0 ... end, value, event_ts from k0 k join <table> on entity_key = k.key union all
        ...``: keys first, then each read's feature names, as parameters."""
        keys = ", ".join(
            f"k{index}(row, key) as (values {', '.join(f'({row}, ?)' for row in range(count))})"
            for index, (_, _, count) in enumerate(shape)
        )
        selects = " union all ".join(
            f"select {index}, k.row, case t.feature_name "
            f"{' '.join(f'when ? then {feature}' for feature in range(features))} end, "
            f"t.value, t.event_ts from k{index} k join {sql.identifier(self.table(view))} t "
            "on t.entity_key = k.key"
            for index, (view, features, _) in enumerate(shape)
        )
        return f"with {keys} {selects}"

    def write(self, view: str, rows: Sequence[WriteRow]) -> None:
        table = self.table(view)
        try:
            with sqlite3.connect(self.path, timeout=10.0) as connection:
                for features, group in _by_features(rows).items():
                    parameters = [
                        (
                            row.entity_key,
                            codec.sqlite_timestamp_value(row.event_seconds),
                            None
                            if row.created_seconds is None
                            else codec.sqlite_timestamp_value(row.created_seconds),
                            *(
                                part
                                for value in row.values.values()
                                for part in (value, codec.value_text(value))
                            ),
                        )
                        for row in group
                    ]
                    connection.executemany(_upsert_statement(table, features), parameters)
            connection.close()
        except sqlite3.Error as error:
            raise OnlineStoreUnavailableError(_sqlite_problem(error, self.path)) from error

    # ---- bulk writes (the materializer) ----------------------------------------------------
    def _bulk(self) -> sqlite3.Connection:
        if self._bulk_connection is None:
            self._bulk_connection = open_write_connection(self.path)
        return self._bulk_connection

    def create_tables(self, views: Sequence[ViewDef]) -> None:
        """Create the tables of ``views`` that are missing, as Feast's SQLite online store
        creates them (its statement: the same columns, key and index, so Feast reads and
        writes them as its own; tests/materialize/test_without_feast.py compares them): a
        deleted file comes back empty without ``import feast``."""
        connection = self._bulk()
        for view in views:
            table = sql.identifier(self.table(view.online_name))
            index = sql.identifier(self.table(view.online_name) + "_ek")
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (entity_key BLOB, feature_name TEXT, "
                "value BLOB, value_text TEXT,  vector_value BLOB, event_ts timestamp, "
                "created_ts timestamp,  PRIMARY KEY(entity_key, feature_name))"
            )
            connection.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {table} (entity_key);")
        connection.commit()

    def has_table(self, view: ViewDef) -> bool:
        row = (
            self._bulk()
            .execute(
                "select count(*) from sqlite_master where type = 'table' and name = ?",
                [self.table(view.online_name)],
            )
            .fetchone()
        )
        return bool(row and row[0])

    def present(self, view: ViewDef, keys: pa.Table) -> int:
        from pitstop.online import column_codec

        if keys.num_rows == 0 or not self.has_table(view):
            return 0
        serialized = column_codec.view_entity_keys(view.entity_columns, keys).to_pylist()
        marks = ",".join("?" * len(serialized))
        table = sql.identifier(self.table(view.online_name))
        row = (
            self._bulk()
            .execute(
                f"select count(distinct entity_key) from {table} where entity_key in ({marks})",
                serialized,
            )
            .fetchone()
        )
        return int(row[0]) if row else 0

    def write_batch(self, view: ViewDef, batch: pa.RecordBatch) -> None:
        """Upsert every feature of the batch's entities in one transaction."""
        from pitstop.online import column_codec

        assert view.source is not None, view.name
        batch = _in_key_order(view, batch)
        keys = column_codec.view_entity_keys(view.entity_columns, batch).to_pylist()
        event = column_codec.sqlite_seconds(batch.column(view.source.timestamp_field))
        created_column = view.source.created_timestamp_column
        created: list[int | None] | repeat[None] = (
            column_codec.sqlite_seconds(batch.column(created_column))
            if created_column
            else repeat(None)
        )
        # One statement per entity with a VALUES row per feature, its key and times bound once
        # (numbered parameters) and the feature names written into the SQL: 3 + 2 parameters
        # per feature instead of 6, and the binding is most of what Python adds per row.
        columns: list[Iterable[object]] = [keys, event, created]
        for feature in view.features:
            column = batch.column(feature.name)
            columns.append(column_codec.value_bytes(column, feature.value_type).to_pylist())
            columns.append(column_codec.value_texts(column, feature.value_type))
        rows = zip(*columns)  # noqa: B905 - repeat() is endless; the lists are equally long
        statement = _upsert_statement(
            self.table(view.online_name), tuple(feature.name for feature in view.features)
        )
        connection = self._bulk()
        connection.execute("begin immediate")
        try:
            connection.executemany(statement, rows)
        except BaseException:
            connection.execute("rollback")
            raise
        connection.execute("commit")

    def mark_complete(self, view: ViewDef) -> None:
        """Nothing to do: a lost file or table is seen by :meth:`present`."""

    def forget_features(self, views: Sequence[ViewDef]) -> int:
        deleted = 0
        connection = self._bulk()
        for view in views:
            if not self.has_table(view):
                continue
            kept = [feature.name for feature in view.features]
            marks = ",".join("?" * len(kept)) or "null"
            table = sql.identifier(self.table(view.online_name))
            with connection:
                cursor = connection.execute(
                    f"delete from {table} where feature_name not in ({marks})", kept
                )
            deleted += max(cursor.rowcount, 0)
        return deleted

    def ping(self) -> None:
        with self._lock:
            try:
                self._connect().execute("select 1").fetchone()
            except sqlite3.Error as error:
                self._drop()
                raise OnlineStoreUnavailableError(_sqlite_problem(error, self.path)) from error

    def close(self) -> None:
        with self._lock:
            self._drop()
            if self._bulk_connection is not None:
                self._bulk_connection.close()
                self._bulk_connection = None


def _by_features(rows: Sequence[WriteRow]) -> dict[tuple[str, ...], list[WriteRow]]:
    """Rows grouped by the features they carry (one upsert statement per group)."""
    groups: dict[tuple[str, ...], list[WriteRow]] = {}
    for row in rows:
        groups.setdefault(tuple(row.values), []).append(row)
    return groups


def _upsert_statement(table: str, features: Sequence[str]) -> str:
    """Upsert one entity's features, newest wins: ``?1`` its key, ``?2``/``?3`` its event and
    created times, then per feature its value and ``value_text`` (the rows
    ``SqliteOnlineStore.online_write_batch`` writes, Feast 0.67)."""
    rows = ", ".join(
        f"(?1, {sql.literal(feature)}, ?{4 + 2 * i}, ?{5 + 2 * i}, ?2, ?3)"
        for i, feature in enumerate(features)
    )
    quoted = sql.identifier(table)
    return (
        f"insert into {quoted} "
        "(entity_key, feature_name, value, value_text, event_ts, created_ts) "
        f"values {rows} on conflict(entity_key, feature_name) do update set "
        "value = excluded.value, value_text = excluded.value_text, "
        "event_ts = excluded.event_ts, created_ts = excluded.created_ts "
        f"where {NEWEST_WINS.format(table=quoted)}"
    )


def _in_key_order(view: ViewDef, batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch sorted by serialized entity key: inserts then walk the B-tree in order."""
    import numpy as np
    import pyarrow as pa

    keys = view.entity_columns
    if len(keys) != 1 or keys[0].value_type != "INT64":
        return batch
    values = batch.column(keys[0].name).to_numpy(zero_copy_only=False)
    # The key ends with the value's little-endian bytes: byte order = those bytes read as a
    # big-endian unsigned number.
    order = np.argsort(values.astype("<i8").view(">u8"), kind="stable")
    return batch.take(pa.array(order))


def _sqlite_problem(error: sqlite3.Error, path: Path) -> str:
    text = str(error)
    if text.startswith("no such table"):
        view = text.split(":", 1)[-1].strip()
        return f"the online store {path} has no table {view}; run `pitstop materialize` first"
    return f"cannot read the online store {path}: {text}"
