"""Feast's SQLite and Redis online stores, read in one round trip per lookup, and written.

Layouts (Feast 0.67, ``feast/infra/online_stores/sqlite.py`` and ``redis.py``):

- SQLite: a table ``<project>_<view>`` with one row per (entity_key, feature_name): the value
  proto in ``value``, ``event_ts`` as whole epoch seconds. A lookup reads every view it needs with
  one ``UNION ALL`` query.
- Redis: one hash per entity, key = serialized entity key + project; one field per feature
  (murmur3 of ``view:feature``) and ``_ts:<view>`` (a protobuf Timestamp). A lookup sends one
  ``HMGET`` per (entity, view) in one pipeline.

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

# A view's answer for one entity: (event time in epoch seconds, feature name -> value proto),
# or None when the store has nothing for the entity.
Row = tuple[float, dict[str, bytes]] | None


@dataclass(frozen=True)
class ViewRead:
    """One view a lookup reads: its name and the features wanted from it."""

    view: str
    features: tuple[str, ...]


@dataclass(frozen=True)
class WriteRow:
    """One entity's new values for a view, already encoded."""

    entity_key: bytes
    event_seconds: float
    values: dict[str, bytes]
    created_seconds: float | None = None


class OnlineStore(Protocol):
    kind: str

    def read(self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]]) -> list[list[Row]]:
        """For each read, one :data:`Row` per entity key in ``keys[i]``."""
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
        self._sql_cache: dict[tuple[tuple[str, int], ...], str] = {}
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

    def read(self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]]) -> list[list[Row]]:
        shape = tuple(
            (read.view, len(view_keys)) for read, view_keys in zip(reads, keys, strict=True)
        )
        sql = self._sql_cache.get(shape)
        if sql is None:
            sql = " union all ".join(
                f"select {index}, entity_key, feature_name, value, event_ts "
                f'from "{self.table(view)}" where entity_key in ({",".join("?" * count)})'
                for index, (view, count) in enumerate(shape)
            )
            self._sql_cache[shape] = sql
        parameters = [key for view_keys in keys for key in view_keys]
        with self._lock:
            try:
                rows = self._connect().execute(sql, parameters).fetchall()
            except sqlite3.Error as error:
                self._drop()
                raise OnlineStoreUnavailableError(_sqlite_problem(error, self.path)) from error
        found: list[dict[bytes, tuple[float, dict[str, bytes]]]] = [{} for _ in reads]
        for index, key, feature, value, event_ts in rows:
            entry = found[index].get(key)
            if entry is None:
                found[index][key] = entry = (codec.sqlite_timestamp(event_ts), {})
            entry[1][feature] = value
        return [
            [by_key.get(key) for key in view_keys]
            for by_key, view_keys in zip(found, keys, strict=True)
        ]

    def write(self, view: str, rows: Sequence[WriteRow]) -> None:
        table = self.table(view)
        sql = (
            f'insert into "{table}" (entity_key, feature_name, value, value_text, event_ts, '
            "created_ts) values (?, ?, ?, ?, ?, ?) on conflict(entity_key, feature_name) do "
            "update set value = excluded.value, value_text = excluded.value_text, "
            "event_ts = excluded.event_ts, created_ts = excluded.created_ts"
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

    def _hash_fields(self, read: ViewRead) -> list[bytes]:
        fields = self._fields.get(read)
        if fields is None:
            fields = [codec.redis_field(read.view, feature) for feature in read.features]
            fields.append(codec.redis_timestamp_field(read.view))
            self._fields[read] = fields
        return fields

    def read(self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]]) -> list[list[Row]]:
        project = self.project.encode("utf8")
        pipe = self._client.pipeline(transaction=False)
        for read, view_keys in zip(reads, keys, strict=True):
            fields = self._hash_fields(read)
            for key in view_keys:
                pipe.hmget(key + project, fields)
        try:
            replies = pipe.execute()
        except self._errors as error:
            raise OnlineStoreUnavailableError(
                f"cannot read the Redis online store at {_redacted(self.url)}: {error}"
            ) from error
        results: list[list[Row]] = []
        position = 0
        for read, view_keys in zip(reads, keys, strict=True):
            rows: list[Row] = []
            for _ in view_keys:
                *values, stamp = replies[position]
                position += 1
                if stamp is None and not any(values):
                    rows.append(None)
                    continue
                rows.append(
                    (
                        codec.decode_redis_timestamp(stamp) or 0.0,
                        {
                            feature: value
                            for feature, value in zip(read.features, values, strict=True)
                            if value is not None
                        },
                    )
                )
            results.append(rows)
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


def _redacted(url: str) -> str:
    """A Redis URL without its password, for messages."""
    scheme, separator, rest = url.partition("://")
    if separator and "@" in rest:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
