"""Feast's SQLite and Redis online stores, read and written: one class per store kind, used by
the lookup API (reads), push (row writes) and the materializer (bulk writes, a batch at a time).

Layouts (Feast 0.67, ``feast/infra/online_stores/sqlite.py`` and ``redis.py``):

- SQLite: a table ``<project>_<view>`` (:func:`~pitstop.online.codec.table_name`) with one row
  per (entity_key, feature_name): the value proto in ``value``, its text in ``value_text``,
  ``event_ts``/``created_ts`` as whole epoch seconds. A lookup reads every view it needs with
  one ``UNION ALL`` query. The keys go in as a numbered ``VALUES`` list and the feature names
  as parameters of a ``CASE``, so each row comes back as small integers (key number, feature
  number) plus the value: no key bytes or name strings to build per row.
- Redis: one hash per entity, key = serialized entity key + project; one field per feature
  (murmur3 of ``view:feature``) and ``_ts:<view>`` (a protobuf Timestamp). A lookup runs one
  Lua script doing an ``HMGET`` per (entity, view) on the server (a single Redis server; the
  keys of one lookup would span slots of a cluster).

Every write keeps the newest row (:data:`NEWEST_WINS`, :data:`WRITE_SCRIPT`), and is never
half-written: in SQLite a batch's entities are one transaction in a WAL database, so a reader
sees the last committed state without waiting; in Redis an entity is one script call, which
Redis runs atomically.

Table names and hash fields come from the registry (its views' online names), never from a
request. A store that cannot be reached for a lookup or a push raises
:class:`~pitstop.errors.OnlineStoreUnavailableError`; the next call tries again, so the API
recovers by itself when the store comes back. The bulk writes import numpy and pyarrow when
first used, so the API's start-up does not load them.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pitstop import sql
from pitstop.errors import OnlineStoreUnavailableError
from pitstop.online import codec
from pitstop.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstop.online.registry import ViewDef

# Every write of the online store keeps the newest row: a stored row newer than the one being
# written (a value pushed since the last build) stays; the same time replaces it (a corrected
# snapshot). SQLite's upsert condition, ``{table}`` the quoted table name; Redis: WRITE_SCRIPT.
# Not the same as Feast: Feast's Redis writer also skips a row whose stored timestamp is equal.
NEWEST_WINS = "excluded.event_ts >= {table}.event_ts"

# How long a bulk writer waits for a table SQLite has locked (a reader never locks it in WAL).
BUSY_TIMEOUT_MS = 60_000
# Entities per Redis pipeline of a bulk write: one is encoded while Redis runs the one before.
PIPELINE_ENTITIES = 10_000
# Set in Redis when a view's bulk write completed; a flush removes it (the store lost data).
MARKER = "pitstop:materialized:{project}:{view}"


@dataclass(frozen=True)
class ViewRead:
    """One view a lookup reads: its name and the features wanted from it."""

    view: str
    features: tuple[str, ...]


@dataclass(frozen=True)
class ViewRows:
    """One read's answer, column by column, in the order of its keys and features.

    ``event_seconds[i]``: entity ``i``'s event time in epoch seconds, None when the store has
    nothing for it. ``values[f][i]``: the stored value proto of ``read.features[f]`` for entity
    ``i``, None when it is not stored (a stored null is an empty proto, ``b""``).
    """

    event_seconds: list[float | None]
    values: list[list[bytes | None]]


@dataclass(frozen=True)
class WriteRow:
    """One entity's new values for a view, already encoded."""

    entity_key: bytes
    event_seconds: float
    values: dict[str, bytes]
    created_seconds: float | None = None


class OnlineStore(Protocol):
    """One online store: read by lookups, written by pushes (rows) and the materializer (batches).

    ``view`` arguments name a view as the store knows it: its online name
    (:attr:`~pitstop.online.registry.ViewDef.online_name`).
    """

    kind: str
    # Which store this is (kind and location), recorded with the materializer's state.
    identity: str
    # Whether bulk writes are faster in serialized-key order (SQLite's B-trees then grow at
    # their end, batch after batch).
    writes_in_key_order: bool

    def read(self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]]) -> list[ViewRows]:
        """For each read, its rows for the entity keys ``keys[i]``."""
        ...

    def write(self, view: str, rows: Sequence[WriteRow]) -> None:
        """Write encoded rows, newest wins (a push)."""
        ...

    def create_tables(self, views: Sequence[ViewDef]) -> None:
        """Create what a bulk write of ``views`` needs and is missing (SQLite: Feast's tables)."""
        ...

    def write_batch(self, view: ViewDef, batch: pa.RecordBatch) -> None:
        """Write a batch of feature-table rows (join keys, timestamps, features), newest wins,
        each entity entirely or not at all."""
        ...

    def present(self, view: ViewDef, keys: pa.Table) -> int:
        """How many of the entities ``keys`` (join key columns) the store holds for ``view``."""
        ...

    def mark_complete(self, view: ViewDef) -> None:
        """Record that every entity of the view was written (after a materialization)."""
        ...

    def forget_features(self, views: Sequence[ViewDef]) -> int:
        """Delete every stored value of a feature that none of ``views`` (the registry's
        online views) has: after a feature or a view is removed. Returns how many it deleted."""
        ...

    def ping(self) -> None:
        """Raise OnlineStoreUnavailableError when the store cannot be read."""
        ...

    def close(self) -> None: ...


def open_online_store(settings: Settings, project: str, *, bulk: bool = False) -> OnlineStore:
    """The online store the settings name (``PITSTOP_ONLINE_STORE``).

    ``bulk``: for the materializer, without the lookups' socket timeout (a pipeline of
    thousands of Redis scripts may take longer than a lookup may wait).
    """
    if settings.online_store == "redis":
        return RedisStore(settings.redis_url, project, timeouts=not bulk)
    return SqliteStore(settings.online_store_path, project)


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


class RedisStore:
    """Feast's Redis online store. redis-py reconnects by itself after the server returns.

    ``timeouts``: a lookup waits at most a second for a reply; bulk writes wait as long as
    Redis takes.
    """

    kind = "redis"
    writes_in_key_order = False

    def __init__(self, url: str, project: str, *, timeouts: bool = True) -> None:
        import redis

        self.url = url
        self.project = project
        self.identity = f"redis:{url}"
        self._client: Any = (
            redis.Redis.from_url(
                url, socket_timeout=1.0, socket_connect_timeout=0.5, health_check_interval=0
            )
            if timeouts
            else redis.Redis.from_url(url)
        )
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._fields: dict[ViewRead, list[bytes]] = {}
        self._read_script = self._client.register_script(_READ_SCRIPT)
        self._write_script = self._client.register_script(WRITE_SCRIPT)
        self._write_script_loaded = False

    def _hash_fields(self, read: ViewRead) -> list[bytes]:
        fields = self._fields.get(read)
        if fields is None:
            fields = [codec.redis_field(read.view, feature) for feature in read.features]
            fields.append(codec.redis_timestamp_field(read.view))
            self._fields[read] = fields
        return fields

    def read(self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]]) -> list[ViewRows]:
        project = self.project.encode("utf8")
        hashes = [key + project for view_keys in keys for key in view_keys]
        arguments: list[int | bytes] = [len(reads)]
        for read, view_keys in zip(reads, keys, strict=True):
            fields = self._hash_fields(read)
            arguments += [len(view_keys), len(fields), *fields]
        try:
            replies = self._read_script(keys=hashes, args=arguments)
        except self._errors as error:
            raise OnlineStoreUnavailableError(
                f"cannot read the Redis online store at {_redacted(self.url)}: {error}"
            ) from error
        results: list[ViewRows] = []
        position = 0
        for read, view_keys in zip(reads, keys, strict=True):
            # HMGET answers in field order: the features, then the view's timestamp field.
            answers = replies[position : position + len(view_keys)]
            position += len(view_keys)
            if not answers:
                results.append(ViewRows([], [[] for _ in read.features]))
                continue
            *columns, stamps = (list(column) for column in zip(*answers, strict=True))
            seconds: list[float | None] = [
                None
                if stamp is None and not any(answer[:-1])
                else codec.decode_redis_timestamp(stamp) or 0.0
                for stamp, answer in zip(stamps, answers, strict=True)
            ]
            results.append(ViewRows(seconds, columns))
        return results

    def write(self, view: str, rows: Sequence[WriteRow]) -> None:
        """One :data:`WRITE_SCRIPT` call per row, in one pipeline (redis-py loads the script
        when the server does not have it)."""
        project = self.project.encode("utf8")
        stamp_field = codec.redis_timestamp_field(view)
        pipe = self._client.pipeline(transaction=False)
        for row in rows:
            arguments = [stamp_field, codec.encode_redis_timestamp(row.event_seconds)]
            for feature, value in row.values.items():
                arguments += (codec.redis_field(view, feature), value)
            self._write_script(keys=[row.entity_key + project], args=arguments, client=pipe)
        try:
            pipe.execute()
        except self._errors as error:
            raise OnlineStoreUnavailableError(
                f"cannot write the Redis online store at {_redacted(self.url)}: {error}"
            ) from error

    # ---- bulk writes (the materializer) ----------------------------------------------------
    def create_tables(self, views: Sequence[ViewDef]) -> None:
        """Nothing to create: a view's values are fields of each entity's hash."""

    def present(self, view: ViewDef, keys: pa.Table) -> int:
        """How many of the entities ``keys`` have this view's fields, 0 without the marker."""
        if keys.num_rows == 0 or not self._client.exists(self._marker(view)):
            return 0
        redis_keys = self._hash_keys(view, keys).to_pylist()
        stamp_field = codec.redis_timestamp_field(view.online_name)
        with self._client.pipeline(transaction=False) as pipe:
            for key in redis_keys:
                pipe.hexists(key, stamp_field)
            return sum(bool(found) for found in pipe.execute())

    def write_batch(self, view: ViewDef, batch: pa.RecordBatch) -> None:
        """Send the batch in pipelines of :data:`PIPELINE_ENTITIES` entities, their RESP bytes
        made for the whole pipeline with numpy; one is encoded while Redis runs the one before."""
        if not self._write_script_loaded:
            self._client.script_load(WRITE_SCRIPT)
            self._write_script_loaded = True
        connection: Any = self._client.connection_pool.get_connection()
        try:
            waiting = 0
            for start in range(0, batch.num_rows, PIPELINE_ENTITIES):
                part = batch.slice(start, PIPELINE_ENTITIES)
                payload = self._commands(view, part)
                _read_integer_replies(connection, waiting)
                connection.send_packed_command([payload])
                waiting = part.num_rows
            _read_integer_replies(connection, waiting)
        except BaseException:
            connection.disconnect()
            raise
        finally:
            self._client.connection_pool.release(connection)

    def _commands(self, view: ViewDef, batch: pa.RecordBatch) -> bytes:
        """The RESP bytes of one ``EVALSHA`` of :data:`WRITE_SCRIPT` per entity of ``batch``:
        ``EVALSHA <sha> 1 <hash> _ts:<view> <timestamp> <field> <value> ...``."""
        from pitstop.online import column_codec, packing

        assert view.source is not None, view.name
        bulk, constant = column_codec.resp_bulk, column_codec.resp_bulk_constant
        rows = batch.num_rows
        fields = 1 + len(view.features)
        head = (
            f"*{4 + 2 * fields}\r\n$7\r\nEVALSHA\r\n$40\r\n{self._write_script.sha}\r\n$1\r\n1\r\n"
        )
        segments = [packing.constant(head.encode(), rows)]
        segments += bulk(self._hash_keys(view, batch), rows)
        segments += constant(codec.redis_timestamp_field(view.online_name), rows)
        stamps = column_codec.timestamp_protos(batch.column(view.source.timestamp_field))
        segments += bulk(stamps, rows)
        for feature in view.features:
            segments += constant(codec.redis_field(view.online_name, feature.name), rows)
            values = column_codec.value_bytes(batch.column(feature.name), feature.value_type)
            segments += bulk(values, rows)
        return packing.concat_bytes(segments)

    def _hash_keys(self, view: ViewDef, table: pa.RecordBatch | pa.Table) -> pa.BinaryArray:
        from pitstop.online import column_codec, packing

        keys = column_codec.view_entity_keys(view.entity_columns, table)
        project = self.project.encode("utf8")
        return packing.concat([packing.from_binary(keys), packing.constant(project, len(keys))])

    def mark_complete(self, view: ViewDef) -> None:
        """Record that the view's keys are in this database (a flush removes the marker)."""
        self._client.set(self._marker(view), b"1")

    def forget_features(self, views: Sequence[ViewDef]) -> int:
        """One pass over the project's hashes (``SCAN``): a field that is no feature or event
        time of a current view is removed. Every entity is read once, so this runs only after
        a view's features changed (pitstop.materialize.run)."""
        expected = {codec.redis_timestamp_field(view.online_name) for view in views}
        expected |= {
            codec.redis_field(view.online_name, feature.name)
            for view in views
            for feature in view.features
        }
        project = self.project.encode("utf8")
        pattern = b"*" + re.sub(rb"([\\*?\[\]])", rb"\\\1", project)
        deleted = 0
        keys: list[bytes] = []

        def sweep() -> int:
            with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hkeys(key)
                stored = pipe.execute()
            stale = [
                (key, [field for field in fields if field not in expected])
                for key, fields in zip(keys, stored, strict=True)
            ]
            stale = [(key, fields) for key, fields in stale if fields]
            if stale:
                with self._client.pipeline(transaction=False) as pipe:
                    for key, fields in stale:
                        pipe.hdel(key, *fields)
                    pipe.execute()
            keys.clear()
            return sum(len(fields) for _, fields in stale)

        for key in self._client.scan_iter(match=pattern, count=1000, _type="HASH"):
            keys.append(key)
            if len(keys) >= PIPELINE_ENTITIES:
                deleted += sweep()
        return deleted + (sweep() if keys else 0)

    def _marker(self, view: ViewDef) -> str:
        return MARKER.format(project=self.project, view=view.online_name)

    def ping(self) -> None:
        try:
            self._client.ping()
        except self._errors as error:
            raise OnlineStoreUnavailableError(
                f"cannot reach the Redis online store at {_redacted(self.url)}: {error}"
            ) from error

    def close(self) -> None:
        self._client.close()


# Every HMGET of a lookup in one script call: ARGV = [reads, then per read: keys, fields,
# field...], KEYS = the hashes, read after read. Building and parsing one command instead of a
# pipeline of hundreds halves a 100-entity read, and the views are read at one instant.
_READ_SCRIPT = """
local out, k, a = {}, 1, 2
for r = 1, tonumber(ARGV[1]) do
  local keys, count = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local fields = {unpack(ARGV, a + 2, a + 1 + count)}
  a = a + 2 + count
  for i = 1, keys do
    out[k] = redis.call('HMGET', KEYS[k], unpack(fields))
    k = k + 1
  end
end
return out
"""


# KEYS[1]: the entity's hash. ARGV: the view's _ts field, the row's Timestamp proto, then the
# feature fields and values. Replies 1 when written, 0 when the stored row is newer. The protos
# are decoded here (field 1 seconds, field 2 nanos, varints; negative seconds take 10 bytes).
# Feast skips a row whose stored timestamp is not older than the new one (read first, then
# written); pitstop writes a row at the same timestamp too: a corrected value (a late event
# rebuilt into a snapshot) must replace the old one.
WRITE_SCRIPT = """
local function stamp(bytes)
  local seconds, nanos, i = 0, 0, 1
  while i <= #bytes do
    local tag, value, scale, byte = string.byte(bytes, i), 0, 1, 0
    repeat
      i = i + 1
      byte = string.byte(bytes, i) or 0
      value = value + (byte % 128) * scale
      scale = scale * 128
    until byte < 128
    i = i + 1
    if value >= 9223372036854775808 then value = value - 18446744073709551616 end
    if tag == 8 then seconds = value elseif tag == 16 then nanos = value end
  end
  return seconds, nanos
end
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored then
  local seconds, nanos = stamp(stored)
  local new_seconds, new_nanos = stamp(ARGV[2])
  if seconds > new_seconds or (seconds == new_seconds and nanos > new_nanos) then
    return 0
  end
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


def _read_integer_replies(connection: Any, count: int) -> None:
    """Consume ``count`` script replies through redis-py's public reader; an error reply
    raises redis-py's ``ResponseError``. (Reading redis-py's private socket directly was 7 %
    faster on a 200,000-entity bulk write, 3.52 s against 3.78 s, median of 9, 2026-12-02: not
    worth depending on a library's internals.)"""
    for _ in range(count):
        connection.read_response()


def _redacted(url: str) -> str:
    """A Redis URL without its password, for messages."""
    scheme, separator, rest = url.partition("://")
    if separator and "@" in rest:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
