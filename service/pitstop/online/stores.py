"""The online store protocol: one class per store kind, used by the lookup API (reads), push
(row writes) and the materializer (bulk writes, a batch at a time).

Layouts (docs/architecture.md §1, "The online layout"):

- SQLite (:mod:`~pitstop.online.sqlite_store`): pitstop's, one row per entity and view, the
  values packed in one blob; Feast reads and writes it through the plugin
  :mod:`~pitstop.online.feast_store`. A lookup reads every view it needs with one
  ``UNION ALL`` query.
- Redis (:mod:`~pitstop.online.redis_store`): pitstop's, one hash per entity (Feast's key:
  serialized entity key + project), one field ``row:<view>`` per view holding the event time,
  the layout and the packed values; Feast reads and writes it through the same plugin. A
  lookup runs one Lua script doing an ``HGET`` per (entity, view) on the server. On a Redis
  Cluster (:mod:`~pitstop.online.redis_cluster_store`) the same keys, one script call per hash
  slot, each node's calls in one pipeline.

Every write keeps the newest row (:data:`NEWEST_WINS`), and is never half-written: in SQLite a
batch's entities are one transaction in a WAL database, so a reader sees the last committed
state without waiting; in Redis each script call runs atomically.

Table names and hash fields come from the registry (its views' online names), never from a
request. A store that cannot be reached for a lookup or a push raises
:class:`~pitstop.errors.OnlineStoreUnavailableError`; the next call tries again, so the API
recovers by itself when the store comes back. The bulk writes import numpy and pyarrow when
first used, so the API's start-up does not load them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pitstop.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstop.online.registry import ViewDef

# Every write of the online store keeps the newest row: a stored row newer than the one being
# written (a value pushed since the last build) stays; the same time replaces it (a corrected
# snapshot). SQLite's upsert condition, ``{table}`` the quoted table name; Redis: WRITE_SCRIPT.
# Not the same as Feast: Feast's Redis writer also skips a row whose stored timestamp is equal.
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

    async def read_async(
        self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]]
    ) -> list[ViewRows]:
        """:meth:`read` for the API's event loop: Redis waits for its reply without blocking
        the loop; SQLite reads inline (a few hundred microseconds, cheaper than a thread)."""
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

    def record_coverage(self, view: str, covered_until_seconds: float | None) -> None:
        """Record how far the view's written data reaches (epoch seconds; pitstop.coverage);
        None: unknown, the record is removed."""
        ...

    def coverage(self) -> dict[str, float]:
        """Each view's recorded coverage (online name -> epoch seconds; pitstop.coverage)."""
        ...

    def holds_rows(self) -> bool:
        """Whether the store holds a row of this project at all (False: never written, or
        emptied, as a flushed Redis is): the API is not ready without one."""
        ...

    def forget_features(self, views: Sequence[ViewDef]) -> int:
        """Delete every stored value of a feature that none of ``views`` (the registry's
        online views) has: after a feature or a view is removed. Returns how many it deleted."""
        ...

    def ping(self) -> None:
        """Raise OnlineStoreUnavailableError when the store cannot be read."""
        ...

    def close(self) -> None: ...


def micros(seconds: float) -> int:
    """Epoch seconds as the stores keep event times: whole microseconds."""
    return round(seconds * 1_000_000)


def merge_rows(
    stored: dict[bytes, tuple[int, dict[str, bytes]]], rows: Sequence[WriteRow]
) -> dict[bytes, tuple[int, dict[str, bytes]]]:
    """The rows to write: each entity's stored row with ``rows`` applied in order, newest
    wins (an equal event time replaces, as :data:`NEWEST_WINS`); unchanged entities left out."""
    merged: dict[bytes, tuple[int, dict[str, bytes]]] = {}
    for row in rows:
        event_ts = micros(row.event_seconds)
        current = merged.get(row.entity_key) or stored.get(row.entity_key)
        if current is not None and current[0] > event_ts:
            continue
        values = dict(current[1]) if current is not None else {}
        values.update(row.values)
        merged[row.entity_key] = (event_ts, values)
    return merged


def open_online_store(settings: Settings, project: str, *, bulk: bool = False) -> OnlineStore:
    """The online store the settings name (``PITSTOP_ONLINE_STORE``, and for Redis
    ``PITSTOP_REDIS_TYPE``: one server or a Redis Cluster).

    ``bulk``: for the materializer, without the lookups' socket timeout (a pipeline of
    thousands of Redis scripts may take longer than a lookup may wait).
    """
    if settings.online_store == "redis" and settings.redis_type == "redis_cluster":
        from pitstop.online.redis_cluster_store import RedisClusterStore

        return RedisClusterStore(settings.redis_url, project, timeouts=not bulk)
    if settings.online_store == "redis":
        from pitstop.online.redis_store import RedisStore

        return RedisStore(settings.redis_url, project, timeouts=not bulk)
    from pitstop.online.sqlite_store import SqliteStore

    return SqliteStore(settings.online_store_path, project)
