"""pitstop's SQLite online store: one row per entity and view.

One class, used by the lookup API (reads), push (row writes), the materializer (bulk writes)
and Feast itself through the online-store plugin :mod:`pitstop.online.feast_store`
(``online_store: type: pitstop.online.feast_store.PitstopOnlineStore``), so every reader and
writer goes through the same code and the same layout (docs/architecture.md §1, "The online
layout").

Layout: a table ``<project>__<view>`` (:func:`~pitstop.online.codec.table_name`; two
underscores, so it is never the table Feast's own SQLite store would make, ``<project>_<view>``)
per online view, ``WITHOUT ROWID``, one row per entity::

    entity_key BLOB PRIMARY KEY   -- Feast's serialized entity key (version 3)
    event_ts   INTEGER            -- the row's event time, epoch microseconds (UTC)
    layout     INTEGER            -- which features ``packed`` holds, in which order
    packed     BLOB               -- their ValueProto bytes (:mod:`~pitstop.online.packed_row`)

A stored null is an empty proto (``b""``); a feature the row's layout lacks is a value never
written (a feature added since the entity was last written). Feast's own layout keeps one row
per (entity, feature) with the value's text beside it: 18–23 rows per entity for a lookup to
build and a materialization to write, where this layout has one row of four values (issue 18's
measurements: docs/benchmarks.md).

Every write keeps the newest row (:data:`~pitstop.online.stores.NEWEST_WINS`) and is never
half-written: a batch's entities are one transaction in a WAL database, so a reader sees the
last committed state without waiting. Table and column names come from the registry, never
from a request. A store that cannot be read raises
:class:`~pitstop.errors.OnlineStoreUnavailableError`; the next call tries again.
"""

from __future__ import annotations

import errno
import functools
import itertools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from pitstop import sql
from pitstop.errors import OnlineStoreUnavailableError, errno_hint
from pitstop.online import codec, packed_row
from pitstop.online.stores import NEWEST_WINS, ViewRead, ViewRows, WriteRow, merge_rows, micros

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstop.online.registry import ViewDef

_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")


def _bulk_errors(
    method: Callable[Concatenate[SqliteStore, _Params], _Result],
) -> Callable[Concatenate[SqliteStore, _Params], _Result]:
    """A bulk method (the materializer's, apply's) with SQLite's errors as
    OnlineStoreUnavailableError: a read-only or full disk is a one-line error, not a trace."""

    @functools.wraps(method)
    def guarded(self: SqliteStore, /, *args: _Params.args, **kwargs: _Params.kwargs) -> _Result:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as error:
            raise OnlineStoreUnavailableError(self._problem(error)) from error

    return guarded


# How long a bulk writer waits for a table SQLite has locked (a reader never locks it in WAL).
BUSY_TIMEOUT_MS = 60_000
_LAYOUTS = sql.identifier(packed_row.LAYOUTS)
# Each view's coverage (pitstop.coverage), keyed by its table's name.
_COVERAGE = sql.identifier("pitstop:coverage")
# Rows of a push or of Feast's writes read back per statement (SQLite's parameter limit).
_KEYS_PER_STATEMENT = 500


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
        # Layouts are never changed once stored: id -> feature names, and where a read's
        # features sit in a layout.
        self._layouts: dict[int, tuple[str, ...]] = {}
        self._slots: dict[tuple[tuple[str, ...], int], tuple[int, list[int]]] = {}
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

    def read(self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]]) -> list[ViewRows]:
        shape = tuple(
            (read.view, len(view_keys)) for read, view_keys in zip(reads, keys, strict=True)
        )
        parameters = [key for view_keys in keys for key in view_keys]
        statement = self._sql_cache.get(shape)
        if statement is None:
            statement = self._sql_cache[shape] = _read_sql(
                [(self.table(view), count) for view, count in shape]
            )
        with self._lock:
            try:
                connection = self._connect()
                rows = connection.execute(statement, parameters).fetchall()
                stamps: list[list[float | None]] = [[None] * len(view_keys) for view_keys in keys]
                # Each entity's values, row by row (None: nothing stored), turned into columns
                # at the end by one zip.
                picked: list[list[Sequence[bytes | None] | None]] = [
                    [None] * len(view_keys) for view_keys in keys
                ]
                layouts: dict[tuple[int, int], tuple[int, list[int]]] = {}
                for index, row, event_ts, layout, packed in rows:
                    stamps[index][row] = event_ts / 1_000_000
                    where = layouts.get((index, layout))
                    if where is None:
                        where = self._slots_of(connection, reads[index].features, layout)
                        layouts[index, layout] = where
                    picked[index][row] = packed_row.pick(packed, *where)
            except sqlite3.Error as error:
                self._drop()
                raise OnlineStoreUnavailableError(self._problem(error)) from error
        results = []
        for read, view_stamps, view_rows in zip(reads, stamps, picked, strict=True):
            missing = (None,) * len(read.features)
            filled = [missing if values is None else values for values in view_rows]
            columns = [list(column) for column in zip(*filled, strict=True)] or [
                [] for _ in read.features
            ]
            results.append(ViewRows(view_stamps, columns))
        return results

    async def read_async(
        self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]]
    ) -> list[ViewRows]:
        """:meth:`read`, inline: a SQLite read is cheaper than a hop to a thread."""
        return self.read(reads, keys)

    def _slots_of(
        self, connection: sqlite3.Connection, features: tuple[str, ...], layout: int
    ) -> tuple[int, list[int]]:
        """How many values a row of ``layout`` packs, and where ``features`` sit among them
        (-1: not in the layout)."""
        slots = self._slots.get((features, layout))
        if slots is None:
            names = self._layout(connection, layout)
            where = {name: slot for slot, name in enumerate(names)}
            slots = (len(names), [where.get(feature, -1) for feature in features])
            self._slots[features, layout] = slots
        return slots

    def _layout(self, connection: sqlite3.Connection, layout: int) -> tuple[str, ...]:
        names = self._layouts.get(layout)
        if names is None:
            rows = connection.execute(f"select id, features from {_LAYOUTS}").fetchall()
            self._layouts.update((id_, packed_row.features_of(text)) for id_, text in rows)
            names = self._layouts.get(layout)
            if names is None:
                raise sqlite3.DatabaseError(f"a row names layout {layout}, which is not stored")
        return names

    def newest_event_seconds(self, view: str) -> float | None:
        """The newest event time of the view's rows (monitoring's freshness), None when empty."""
        table = sql.identifier(self.table(view))
        with self._lock:
            try:
                (newest,) = self._connect().execute(f"select max(event_ts) from {table}").fetchone()
            except sqlite3.Error as error:
                self._drop()
                raise OnlineStoreUnavailableError(self._problem(error)) from error
        return None if newest is None else newest / 1_000_000

    # ---- row writes (push, Feast's online_write_batch) -------------------------------------
    def write(self, view: str, rows: Sequence[WriteRow]) -> None:
        """Write ``rows`` in one transaction, newest wins: a row older than the stored one is
        dropped; a newer one replaces the values it carries and keeps the stored values of the
        features it does not carry (the table must exist: apply or materialize make it)."""
        table = sql.identifier(self.table(view))
        try:
            connection = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            try:
                connection.execute("begin immediate")
                merged = merge_rows(self._stored(connection, table, rows), rows)
                layouts = {tuple(values) for _, values in merged.values()}
                _store_layouts(connection, layouts)
                ids = {names: packed_row.layout_id(names) for names in layouts}
                connection.executemany(
                    f"insert or replace into {table} values (?, ?, ?, ?)",
                    [
                        (
                            key,
                            event_ts,
                            ids[tuple(values)],
                            packed_row.pack(list(values.values())),
                        )
                        for key, (event_ts, values) in merged.items()
                    ],
                )
                connection.execute("commit")
            finally:
                connection.close()
        except sqlite3.Error as error:
            raise OnlineStoreUnavailableError(self._problem(error)) from error

    def _stored(
        self, connection: sqlite3.Connection, table: str, rows: Sequence[WriteRow]
    ) -> dict[bytes, tuple[int, dict[str, bytes]]]:
        """The stored rows of ``rows``' entities: key -> (event time, feature -> value)."""
        keys = list({row.entity_key: None for row in rows})
        stored: dict[bytes, tuple[int, dict[str, bytes]]] = {}
        for start in range(0, len(keys), _KEYS_PER_STATEMENT):
            chunk = keys[start : start + _KEYS_PER_STATEMENT]
            marks = ", ".join("?" * len(chunk))
            for key, event_ts, layout, packed in connection.execute(
                f"select entity_key, event_ts, layout, packed from {table} "
                f"where entity_key in ({marks})",
                chunk,
            ):
                names = self._layout(connection, layout)
                values = packed_row.unpack(packed, len(names))
                stored[key] = (event_ts, dict(zip(names, values, strict=True)))
        return stored

    # ---- tables (apply through Feast, the materializer) ------------------------------------
    def _bulk(self) -> sqlite3.Connection:
        if self._bulk_connection is None:
            self._bulk_connection = open_write_connection(self.path)
        return self._bulk_connection

    def create_tables(self, views: Sequence[ViewDef]) -> None:
        """Create the tables of ``views`` that are missing (a new feature reads as not stored
        until a row with it is written)."""
        for view in views:
            self.create_table(view.online_name)

    @_bulk_errors
    def create_table(self, view: str) -> None:
        """Create the view's table and the file's layouts table if they are missing."""
        connection = self._bulk()
        connection.execute(
            f"create table if not exists {_LAYOUTS} (id integer primary key, features text)"
        )
        connection.execute(
            f"create table if not exists {sql.identifier(self.table(view))} ("
            "entity_key blob primary key, event_ts integer not null, layout integer not null, "
            "packed blob not null) without rowid"
        )

    @_bulk_errors
    def drop_table(self, view: str) -> None:
        """Remove the view's table (its view left the registry)."""
        if self.path.exists():
            self._bulk().execute(f"drop table if exists {sql.identifier(self.table(view))}")

    @_bulk_errors
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
    @_bulk_errors
    def present(self, view: ViewDef, keys: pa.Table) -> int:
        from pitstop.online import column_codec

        if keys.num_rows == 0 or not self.has_table(view):
            return 0
        serialized = column_codec.view_entity_keys(view.entity_columns, keys).to_pylist()
        marks = ",".join("?" * len(serialized))
        table = sql.identifier(self.table(view.online_name))
        row = (
            self._bulk()
            .execute(f"select count(*) from {table} where entity_key in ({marks})", serialized)
            .fetchone()
        )
        return int(row[0]) if row else 0

    @_bulk_errors
    def write_batch(self, view: ViewDef, batch: pa.RecordBatch) -> None:
        """Upsert the batch's entities, one row each, newest wins, in one transaction."""
        from pitstop.online import column_codec

        assert view.source is not None, view.name
        batch = _in_key_order(view, batch)
        names = tuple(feature.name for feature in view.features)
        packed = packed_row.pack_column(
            [
                column_codec.value_bytes(batch.column(feature.name), feature.value_type)
                for feature in view.features
            ]
        )
        columns: list[Iterable[object]] = [
            column_codec.view_entity_keys(view.entity_columns, batch).to_pylist(),
            column_codec.epoch_micros(batch.column(view.source.timestamp_field)),
            itertools.repeat(packed_row.layout_id(names), batch.num_rows),
            packed.to_pylist(),
        ]
        table = sql.identifier(self.table(view.online_name))
        connection = self._bulk()
        connection.execute("begin immediate")
        try:
            _store_layouts(connection, {names})
            connection.executemany(
                f"insert into {table} values (?, ?, ?, ?) on conflict(entity_key) do update "
                "set event_ts = excluded.event_ts, layout = excluded.layout, "
                f"packed = excluded.packed where {NEWEST_WINS.format(table=table)}",
                zip(*columns, strict=False),
            )
        except BaseException:
            connection.execute("rollback")
            raise
        connection.execute("commit")

    def mark_complete(self, view: ViewDef) -> None:
        """Nothing to do: a lost file or table is seen by :meth:`present`."""

    @_bulk_errors
    def record_coverage(self, view: str, covered_until_seconds: float | None) -> None:
        connection = self._bulk()
        connection.execute(
            f"create table if not exists {_COVERAGE} "
            "(view_table text primary key, covered_until_us integer not null)"
        )
        table = self.table(view)
        if covered_until_seconds is None:
            connection.execute(f"delete from {_COVERAGE} where view_table = ?", (table,))
        else:
            connection.execute(
                f"insert or replace into {_COVERAGE} values (?, ?)",
                (table, micros(covered_until_seconds)),
            )

    def coverage(self) -> dict[str, float]:
        prefix = self.table("")
        with self._lock:
            try:
                rows = self._connect().execute(f"select * from {_COVERAGE}").fetchall()
            except sqlite3.Error as error:
                if str(error).startswith("no such table"):
                    return {}  # never materialized by this version
                self._drop()
                raise OnlineStoreUnavailableError(self._problem(error)) from error
        return {
            table.removeprefix(prefix): until / 1_000_000
            for table, until in rows
            if table.startswith(prefix)
        }

    def holds_rows(self) -> bool:
        prefix = self.table("")
        with self._lock:
            try:
                connection = self._connect()
                tables = [
                    name
                    for (name,) in connection.execute(
                        "select name from sqlite_master where type = 'table'"
                    )
                    if name.startswith(prefix)
                ]
                return any(
                    connection.execute(f"select 1 from {sql.identifier(t)} limit 1").fetchone()
                    for t in tables
                )
            except sqlite3.Error as error:
                self._drop()
                raise OnlineStoreUnavailableError(self._problem(error)) from error

    @_bulk_errors
    def stored_features(self, view: str) -> set[str]:
        """The features some row of the view's table holds a value (or a stored null) of."""
        table = sql.identifier(self.table(view))
        connection = self._bulk()
        layouts = connection.execute(f"select distinct layout from {table}").fetchall()
        return {name for (layout,) in layouts for name in self._layout(connection, layout)}

    @_bulk_errors
    def forget_features(self, views: Sequence[ViewDef]) -> int:
        """Remove from every row the features its view no longer has (the rows are packed
        again without them); returns how many values were removed."""
        deleted = 0
        connection = self._bulk()
        connection.execute("begin immediate")
        try:
            for view in views:
                kept = {feature.name for feature in view.features}
                table = sql.identifier(self.table(view.online_name))
                layouts = connection.execute(f"select distinct layout from {table}").fetchall()
                for (layout,) in layouts:
                    names = self._layout(connection, layout)
                    keep = [slot for slot, name in enumerate(names) if name in kept]
                    if len(keep) == len(names):
                        continue
                    smaller = tuple(names[slot] for slot in keep)
                    _store_layouts(connection, {smaller})
                    smaller_id = packed_row.layout_id(smaller)
                    rows = connection.execute(
                        f"select entity_key, packed from {table} where layout = ?", [layout]
                    ).fetchall()
                    connection.executemany(
                        f"update {table} set layout = ?, packed = ? where entity_key = ?",
                        [
                            (
                                smaller_id,
                                packed_row.repack(packed, len(names), keep),
                                key,
                            )
                            for key, packed in rows
                        ],
                    )
                    deleted += len(rows) * (len(names) - len(keep))
        except BaseException:
            connection.execute("rollback")
            raise
        connection.execute("commit")
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
        return f"cannot use the online store {self.path}: {text}{self._hint(error)}"

    def _hint(self, error: sqlite3.Error) -> str:
        """What the machine refused, where SQLite's message hides it (a read-only folder is
        "unable to open database file")."""
        folder = self.path.parent
        try:
            disk = os.statvfs(folder)
        except OSError:
            return ""
        if disk.f_flag & os.ST_RDONLY:
            return errno_hint(errno.EROFS)
        # a full disk is SQLITE_FULL, or a "disk I/O error" when its journal could not grow
        code = getattr(error, "sqlite_errorcode", None)  # Python 3.11 on
        if code == sqlite3.SQLITE_FULL or disk.f_bavail * disk.f_frsize < 2**20:
            return errno_hint(errno.ENOSPC)
        return "" if os.access(folder, os.W_OK) else errno_hint(errno.EACCES)

    def close(self) -> None:
        with self._lock:
            self._drop()
            if self._bulk_connection is not None:
                self._bulk_connection.close()
                self._bulk_connection = None


_Shape = tuple[tuple[str, int], ...]  # a read's statement: (view, how many keys) each


def _read_sql(tables: Sequence[tuple[str, int]]) -> str:
    """``with k0(row, key) as (values (0, ?), ...) select 0, k.row, t.event_ts, t.layout,
    t.packed from k0 k join <table> t on t.entity_key = k.key union all ...``: one statement
    (one snapshot) for every view of a lookup, the keys as parameters."""
    keys = ", ".join(
        f"k{index}(row, key) as (values {', '.join(f'({row}, ?)' for row in range(count))})"
        for index, (_, count) in enumerate(tables)
    )
    selects = " union all ".join(
        f"select {index}, k.row, t.event_ts, t.layout, t.packed from k{index} k "
        f"join {sql.identifier(table)} t on t.entity_key = k.key"
        for index, (table, _) in enumerate(tables)
    )
    return f"with {keys} {selects}"


def _store_layouts(connection: sqlite3.Connection, layouts: Iterable[tuple[str, ...]]) -> None:
    connection.executemany(
        f"insert or ignore into {_LAYOUTS} values (?, ?)",
        [(packed_row.layout_id(names), packed_row.layout_text(names)) for names in layouts],
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
