"""pitstop's SQLite online store: one row per entity and view.

One class, used by the lookup API (reads), push (row writes), the materializer (bulk writes)
and Feast itself through the online-store plugin :mod:`pitstop.online.feast_store`
(``online_store: type: pitstop.online.feast_store.PitstopOnlineStore``), so every reader and
writer goes through the same code and the same layout (docs/architecture.md §5, "The online
layout").

Layout: a table ``<project>__<view>`` (:func:`~pitstop.online.codec.table_name`; two
underscores, so it is never the table Feast's own SQLite store would make, ``<project>_<view>``)
per online view, ``WITHOUT ROWID``, one row per entity::

    entity_key BLOB PRIMARY KEY   -- Feast's serialized entity key (version 3)
    event_ts   INTEGER            -- the row's event time, epoch microseconds (UTC)
    "<feature>" BLOB ...          -- one column per feature: its ValueProto bytes

A stored null is an empty proto (``b""``); a NULL column is a value never written (a feature
added since the entity was last written). Feast's own layout keeps one row per (entity,
feature) with the value's text beside it: 18–23 rows per entity for a lookup to build and a
materialization to write, where this layout has one (issue 18's measurements:
docs/benchmarks.md).

Every write keeps the newest row (:data:`~pitstop.online.stores.NEWEST_WINS`) and is never
half-written: a batch's entities are one transaction in a WAL database, so a reader sees the
last committed state without waiting. Table and column names come from the registry, never
from a request. A store that cannot be read raises
:class:`~pitstop.errors.OnlineStoreUnavailableError`; the next call tries again.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstop import sql
from pitstop.errors import ConfigurationError, OnlineStoreUnavailableError
from pitstop.online import codec
from pitstop.online.stores import NEWEST_WINS, ViewRead, ViewRows, WriteRow

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstop.online.registry import ViewDef

# How long a bulk writer waits for a table SQLite has locked (a reader never locks it in WAL).
BUSY_TIMEOUT_MS = 60_000
# The columns every view's table has; a feature may not take one of these names.
KEY_COLUMN, TIME_COLUMN = "entity_key", "event_ts"


def open_write_connection(path: Path) -> sqlite3.Connection:
    """A connection for bulk writes to the SQLite store at ``path`` (created if missing): WAL
    journaling (it persists in the file: readers then read the last committed state while a
    batch is written, with no "database is locked"), transactions begun explicitly, a 64 MiB
    page cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
    connection.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("pragma journal_mode = wal")
    connection.execute("pragma synchronous = normal")
    connection.execute("pragma cache_size = -65536")
    return connection


def micros(seconds: float) -> int:
    """Epoch seconds as the ``event_ts`` column holds them: whole microseconds."""
    return round(seconds * 1_000_000)


class SqliteStore:
    """The SQLite online store file at ``path``.

    Lookups share one read-only connection, reopened when the file is replaced; a push opens
    a connection per write (a long-lived one would go on writing a replaced file); bulk writes
    and table changes keep one write connection (:func:`open_write_connection`) until
    :meth:`close`.
    """

    kind = "sqlite"
    writes_in_key_order = True

    def __init__(self, path: Path, project: str) -> None:
        self.path = path
        self.project = project
        self.identity = f"sqlite:{path}"
        self._connection: sqlite3.Connection | None = None
        self._inode: int | None = None
        self._sql_cache: dict[_Shape, str] = {}
        # Statements of reads with a feature the table has no column for, by the schema
        # version they were made for.
        self._partial: dict[_Shape, tuple[int, str]] = {}
        self._lock = threading.Lock()
        self._bulk_connection: sqlite3.Connection | None = None

    def table(self, view: str) -> str:
        return codec.table_name(self.project, view)

    # ---- reads (lookups, push's newest-wins check, Feast's online_read) --------------------
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
            # Readers never write; with WAL (the writers' mode) they never wait either.
            connection.execute("pragma query_only = on")
            # A lookup touches a few pages per entity: keep them in memory (64 MB of cache,
            # the file memory-mapped).
            connection.execute("pragma cache_size = -65536")
            connection.execute("pragma mmap_size = 268435456")
            self._connection, self._inode = connection, inode
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = self._inode = None
        self._partial.clear()

    def read(self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]]) -> list[ViewRows]:
        shape = tuple(
            (read.view, read.features, len(view_keys))
            for read, view_keys in zip(reads, keys, strict=True)
        )
        parameters = [key for view_keys in keys for key in view_keys]
        with self._lock:
            try:
                rows = self._fetch(shape, parameters)
            except sqlite3.Error as error:
                self._drop()
                raise OnlineStoreUnavailableError(self._problem(error)) from error
        stamps: list[list[float | None]] = [[None] * len(view_keys) for view_keys in keys]
        values: list[list[list[bytes | None]]] = [
            [[None] * len(view_keys) for _ in read.features]
            for read, view_keys in zip(reads, keys, strict=True)
        ]
        for index, row, event_ts, *stored in rows:
            stamps[index][row] = event_ts / 1_000_000
            for column, value in zip(values[index], stored, strict=False):
                column[row] = value
        return [
            ViewRows(view_stamps, columns)
            for view_stamps, columns in zip(stamps, values, strict=True)
        ]

    def _fetch(self, shape: _Shape, parameters: list[bytes]) -> list[Any]:
        """The read's rows. A feature without a column (removed from the table, or not added
        yet: a registry newer or older than the file) reads as not stored: its statement
        selects NULL there, and is made again when the file's schema changes."""
        connection = self._connect()
        partial = self._partial.get(shape)
        if partial is not None and partial[0] != _schema_version(connection):
            del self._partial[shape]
            partial = None
        if partial is not None:
            return connection.execute(partial[1], parameters).fetchall()
        statement = self._sql_cache.get(shape)
        if statement is None:
            statement = self._sql_cache[shape] = self._read_sql(shape)
        try:
            return connection.execute(statement, parameters).fetchall()
        except sqlite3.OperationalError as error:
            if not str(error).startswith("no such column"):
                raise
        version = _schema_version(connection)
        present = {view: set(_columns(connection, self.table(view))) for view, _, _ in shape}
        statement = self._read_sql(shape, present)
        self._partial[shape] = (version, statement)
        return connection.execute(statement, parameters).fetchall()

    def _read_sql(self, shape: _Shape, present: dict[str, set[str]] | None = None) -> str:
        """``with k0(row, key) as (values (0, ?), ...) select 0, k.row, t.event_ts, t."f",
        ... from k0 k join <table> t on t.entity_key = k.key union all ...``: one statement
        (one snapshot) for every view of a lookup, the keys as parameters, each view's feature
        columns padded with NULL to the widest view (and NULL for a column not ``present``)."""
        width = max((len(features) for _, features, _ in shape), default=0)
        keys = ", ".join(
            f"k{index}(row, key) as (values {', '.join(f'({row}, ?)' for row in range(count))})"
            for index, (_, _, count) in enumerate(shape)
        )
        selects = " union all ".join(
            f"select {index}, k.row, t.{TIME_COLUMN}"
            + "".join(
                f", t.{sql.identifier(feature)}"
                if present is None or feature in present[view]
                else ", null"
                for feature in features
            )
            + ", null" * (width - len(features))
            + f" from k{index} k join {sql.identifier(self.table(view))} t"
            f" on t.{KEY_COLUMN} = k.key"
            for index, (view, features, _) in enumerate(shape)
        )
        return f"with {keys} {selects}"

    def newest_event_seconds(self, view: str) -> float | None:
        """The newest event time of the view's rows (monitoring's freshness), None when empty."""
        table = sql.identifier(self.table(view))
        with self._lock:
            try:
                (newest,) = (
                    self._connect().execute(f"select max({TIME_COLUMN}) from {table}").fetchone()
                )
            except sqlite3.Error as error:
                self._drop()
                raise OnlineStoreUnavailableError(self._problem(error)) from error
        return None if newest is None else newest / 1_000_000

    # ---- row writes (push, Feast's online_write_batch) -------------------------------------
    def write(self, view: str, rows: Sequence[WriteRow]) -> None:
        """Upsert ``rows``, newest wins, in one transaction; a feature the table has no column
        for yet gets one (the table itself must exist: apply or materialize make it)."""
        table = self.table(view)
        try:
            with sqlite3.connect(self.path, timeout=10.0) as connection:
                present = set(_columns(connection, table))
                for features, group in _by_features(rows).items():
                    for feature in features:
                        if present and feature not in present:
                            _add_column(connection, table, feature)
                            present.add(feature)
                    connection.executemany(
                        _upsert_statement(table, features),
                        [
                            (row.entity_key, micros(row.event_seconds), *row.values.values())
                            for row in group
                        ],
                    )
            connection.close()
        except sqlite3.Error as error:
            raise OnlineStoreUnavailableError(self._problem(error)) from error

    # ---- tables (apply through Feast, the materializer) ------------------------------------
    def _bulk(self) -> sqlite3.Connection:
        if self._bulk_connection is None:
            self._bulk_connection = open_write_connection(self.path)
        return self._bulk_connection

    def create_tables(self, views: Sequence[ViewDef]) -> None:
        """Create the tables of ``views`` that are missing and add the feature columns they
        lack (a new feature reads as not stored until it is written)."""
        for view in views:
            self.create_table(view.online_name, [feature.name for feature in view.features])

    def create_table(self, view: str, features: Sequence[str]) -> None:
        """Create the view's table if it is missing, then add each missing feature column."""
        taken = {KEY_COLUMN, TIME_COLUMN} & set(features)
        if taken:
            raise ConfigurationError(
                f"view {view}: a feature may not be named {', '.join(sorted(taken))} "
                "(a column of every online table)"
            )
        table = sql.identifier(self.table(view))
        connection = self._bulk()
        connection.execute(
            f"create table if not exists {table} ({KEY_COLUMN} blob primary key, "
            f"{TIME_COLUMN} integer"
            + "".join(f", {sql.identifier(feature)} blob" for feature in features)
            + ") without rowid"
        )
        present = set(self._columns(view))
        for feature in features:
            if feature not in present:
                _add_column(connection, self.table(view), feature)

    def drop_table(self, view: str) -> None:
        """Remove the view's table (its view left the registry)."""
        if self.path.exists():
            self._bulk().execute(f"drop table if exists {sql.identifier(self.table(view))}")

    def _columns(self, view: str) -> list[str]:
        rows = (
            self._bulk()
            .execute("select name from pragma_table_info(?)", [self.table(view)])
            .fetchall()
        )
        return [name for (name,) in rows]

    def has_table(self, view: ViewDef) -> bool:
        return bool(self._columns(view.online_name))

    # ---- bulk writes (the materializer) ----------------------------------------------------
    def present(self, view: ViewDef, keys: pa.Table) -> int:
        from pitstop.online import column_codec

        if keys.num_rows == 0 or not self.has_table(view):
            return 0
        serialized = column_codec.view_entity_keys(view.entity_columns, keys).to_pylist()
        marks = ",".join("?" * len(serialized))
        table = sql.identifier(self.table(view.online_name))
        row = (
            self._bulk()
            .execute(f"select count(*) from {table} where {KEY_COLUMN} in ({marks})", serialized)
            .fetchone()
        )
        return int(row[0]) if row else 0

    def write_batch(self, view: ViewDef, batch: pa.RecordBatch) -> None:
        """Upsert the batch's entities, one row each, in one transaction."""
        from pitstop.online import column_codec

        assert view.source is not None, view.name
        batch = _in_key_order(view, batch)
        columns: list[Iterable[object]] = [
            column_codec.view_entity_keys(view.entity_columns, batch).to_pylist(),
            column_codec.epoch_micros(batch.column(view.source.timestamp_field)),
        ]
        for feature in view.features:
            column = batch.column(feature.name)
            columns.append(column_codec.value_bytes(column, feature.value_type).to_pylist())
        statement = _upsert_statement(
            self.table(view.online_name), tuple(feature.name for feature in view.features)
        )
        connection = self._bulk()
        connection.execute("begin immediate")
        try:
            connection.executemany(statement, zip(*columns, strict=True))
        except BaseException:
            connection.execute("rollback")
            raise
        connection.execute("commit")

    def mark_complete(self, view: ViewDef) -> None:
        """Nothing to do: a lost file or table is seen by :meth:`present`."""

    def forget_features(self, views: Sequence[ViewDef]) -> int:
        """Drop each feature column none of ``views`` has; returns how many values it held."""
        deleted = 0
        connection = self._bulk()
        for view in views:
            kept = {KEY_COLUMN, TIME_COLUMN} | {feature.name for feature in view.features}
            table = sql.identifier(self.table(view.online_name))
            for column in self._columns(view.online_name):
                if column in kept:
                    continue
                quoted = sql.identifier(column)
                (count,) = connection.execute(f"select count({quoted}) from {table}").fetchone()
                connection.execute(f"alter table {table} drop column {quoted}")
                deleted += int(count)
        return deleted

    def ping(self) -> None:
        with self._lock:
            try:
                self._connect().execute("select 1").fetchone()
            except sqlite3.Error as error:
                self._drop()
                raise OnlineStoreUnavailableError(self._problem(error)) from error

    def _problem(self, error: sqlite3.Error) -> str:
        text = str(error)
        if text.startswith(("no such table", "no such column")):
            return (
                f"the online store {self.path} has {text}; run `pitstop apply` or "
                "`pitstop materialize` first"
            )
        return f"cannot use the online store {self.path}: {text}"

    def close(self) -> None:
        with self._lock:
            self._drop()
            if self._bulk_connection is not None:
                self._bulk_connection.close()
                self._bulk_connection = None


_Shape = tuple[tuple[str, tuple[str, ...], int], ...]  # a read: (view, features, keys) each


def _columns(connection: sqlite3.Connection, table: str) -> list[str]:
    """The table's columns, none when it does not exist."""
    rows = connection.execute("select name from pragma_table_info(?)", [table]).fetchall()
    return [name for (name,) in rows]


def _add_column(connection: sqlite3.Connection, table: str, feature: str) -> None:
    quoted = sql.identifier(table)
    connection.execute(f"alter table {quoted} add column {sql.identifier(feature)} blob")


def _schema_version(connection: sqlite3.Connection) -> int:
    (version,) = connection.execute("pragma schema_version").fetchone()
    return int(version)


def _by_features(rows: Sequence[WriteRow]) -> dict[tuple[str, ...], list[WriteRow]]:
    """Rows grouped by the features they carry (one upsert statement per group)."""
    groups: dict[tuple[str, ...], list[WriteRow]] = {}
    for row in rows:
        groups.setdefault(tuple(row.values), []).append(row)
    return groups


def _upsert_statement(table: str, features: Sequence[str]) -> str:
    """Upsert one entity's row, newest wins: its key, its event time, then ``features``'
    values; the features not named keep their stored values."""
    quoted = sql.identifier(table)
    columns = [KEY_COLUMN, TIME_COLUMN, *(sql.identifier(feature) for feature in features)]
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns[1:])
    return (
        f"insert into {quoted} ({', '.join(columns)}) "
        f"values ({', '.join('?' * len(columns))}) on conflict({KEY_COLUMN}) do update set "
        f"{updates} where {NEWEST_WINS.format(table=quoted)}"
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
