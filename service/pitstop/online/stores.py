"""Feast's SQLite and Redis online stores, read in one round trip per lookup, and written.

Layouts (Feast 0.67, ``feast/infra/online_stores/sqlite.py`` and ``redis.py``):

- SQLite: a table ``<project>_<view>`` with one row per (entity_key, feature_name): the value
  proto in ``value``, ``event_ts`` as whole epoch seconds. A lookup reads every view it needs with
  one ``UNION ALL`` query. The keys go in as a numbered ``VALUES`` list and the feature names
  as parameters of a ``CASE``, so each row comes back as small integers (key number, feature
  number) plus the value: no key bytes or name strings to build per row.
- Redis: one hash per entity, key = serialized entity key + project; one field per feature
  (murmur3 of ``view:feature``) and ``_ts:<view>`` (a protobuf Timestamp). A lookup runs one
  Lua script doing an ``HMGET`` per (entity, view) on the server (a single Redis server; the
  keys of one lookup would span slots of a cluster).

Table names and hash fields come from the compiled plans (the registry), never from a request.
A store that cannot be reached raises :class:`~pitstop.errors.OnlineStoreUnavailableError`; the
next call tries again, so the API recovers by itself when the store comes back.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pitstop.errors import OnlineStoreUnavailableError
from pitstop.online import codec
from pitstop.settings import Settings

# Every write of the online store keeps the newest row: a stored row newer than the one being
# written (a value pushed since the last build) stays; the same time replaces it (a corrected
# snapshot). SQLite's upsert condition, ``{table}`` the quoted table name; Redis: _WRITE_SCRIPT.
NEWEST_WINS = "excluded.event_ts >= {table}.event_ts"


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
    kind: str

    def read(self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]]) -> list[ViewRows]:
        """For each read, its rows for the entity keys ``keys[i]``."""
        ...

    def write(self, view: str, rows: Sequence[WriteRow]) -> None: ...

    def ping(self) -> None:
        """Raise OnlineStoreUnavailableError when the store cannot be read."""
        ...

    def close(self) -> None: ...


def open_online_store(settings: Settings, project: str) -> OnlineStore:
    """The online store the settings name (``PITSTOP_ONLINE_STORE``)."""
    if settings.online_store == "redis":
        return RedisStore(settings.redis_url, project)
    return SqliteStore(settings.online_store_path, project)


class SqliteStore:
    """Feast's SQLite online store file. One connection, reopened when the file is replaced."""

    kind = "sqlite"

    def __init__(self, path: Path, project: str) -> None:
        self.path = path
        self.project = project
        self._connection: sqlite3.Connection | None = None
        self._inode: int | None = None
        self._sql_cache: dict[tuple[tuple[str, int, int], ...], str] = {}
        self._lock = threading.Lock()

    def table(self, view: str) -> str:
        return f"{self.project}_{view}"

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
            f't.value, t.event_ts from k{index} k join "{self.table(view)}" t '
            "on t.entity_key = k.key"
            for index, (view, features, _) in enumerate(shape)
        )
        return f"with {keys} {selects}"

    def write(self, view: str, rows: Sequence[WriteRow]) -> None:
        quoted = f'"{self.table(view)}"'
        sql = (
            f"insert into {quoted} (entity_key, feature_name, value, value_text, event_ts, "
            "created_ts) values (?, ?, ?, ?, ?, ?) on conflict(entity_key, feature_name) do "
            "update set value = excluded.value, value_text = excluded.value_text, "
            "event_ts = excluded.event_ts, created_ts = excluded.created_ts "
            f"where {NEWEST_WINS.format(table=quoted)}"
        )
        parameters = [
            (
                row.entity_key,
                feature,
                value,
                codec.value_text(value),
                codec.sqlite_timestamp_value(row.event_seconds),
                None
                if row.created_seconds is None
                else codec.sqlite_timestamp_value(row.created_seconds),
            )
            for row in rows
            for feature, value in row.values.items()
        ]
        try:
            with sqlite3.connect(self.path, timeout=10.0) as connection:
                connection.executemany(sql, parameters)
            connection.close()
        except sqlite3.Error as error:
            raise OnlineStoreUnavailableError(_sqlite_problem(error, self.path)) from error

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


def _sqlite_problem(error: sqlite3.Error, path: Path) -> str:
    text = str(error)
    if text.startswith("no such table"):
        view = text.split(":", 1)[-1].strip()
        return f"the online store {path} has no table {view}; run `pitstop materialize` first"
    return f"cannot read the online store {path}: {text}"


class RedisStore:
    """Feast's Redis online store. redis-py reconnects by itself after the server returns."""

    kind = "redis"

    def __init__(self, url: str, project: str) -> None:
        import redis

        self.url = url
        self.project = project
        self._client: Any = redis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=0.5, health_check_interval=0
        )
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._fields: dict[ViewRead, list[bytes]] = {}
        self._read_script = self._client.register_script(_READ_SCRIPT)

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
        project = self.project.encode("utf8")
        stamp_field = codec.redis_timestamp_field(view)
        pipe = self._client.pipeline(transaction=False)
        for row in rows:
            mapping: dict[bytes, bytes] = {
                codec.redis_field(view, feature): value for feature, value in row.values.items()
            }
            mapping[stamp_field] = codec.encode_redis_timestamp(row.event_seconds)
            pipe.hset(row.entity_key + project, mapping=mapping)
        try:
            pipe.execute()
        except self._errors as error:
            raise OnlineStoreUnavailableError(
                f"cannot write the Redis online store at {_redacted(self.url)}: {error}"
            ) from error

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


def _redacted(url: str) -> str:
    """A Redis URL without its password, for messages."""
    scheme, separator, rest = url.partition("://")
    if separator and "@" in rest:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
