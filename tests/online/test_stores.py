"""What every online store's row writes keep (stores.NEWEST_WINS, stores.merge_rows), on a real
SQLite file and a real Redis database: newest wins, a row replaces only the values it carries,
the rows of one write apply in order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pitstop.online.redis_store import RedisStore
from pitstop.online.sqlite_store import SqliteStore
from pitstop.online.stores import ViewRead, WriteRow

KEY = b"entity-1"
# This module's own Redis database, flushed before and after each test.
REDIS_URL = "redis://127.0.0.1:6379/9"

Store = SqliteStore | RedisStore


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        sqlite = SqliteStore(tmp_path / "online_store.db", "proj")
        sqlite.create_table("view")
        yield sqlite
        sqlite.close()
        return
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # no Redis server: the test fails here, loudly
    client.flushdb()
    on_redis = RedisStore(REDIS_URL, "proj")
    yield on_redis
    on_redis.close()
    client.flushdb()
    client.close()


def _read(store: Store, *features: str) -> tuple[float | None, list[bytes | None]]:
    (rows,) = store.read([ViewRead("view", features)], [[KEY]])
    return rows.event_seconds[0], [column[0] for column in rows.values]


def test_a_newer_row_replaces_only_the_values_it_carries(store: Store) -> None:
    store.write("view", [WriteRow(KEY, 10.0, {"a": b"a1", "b": b"b1"})])
    store.write("view", [WriteRow(KEY, 20.5, {"b": b"b2", "c": b""})])
    assert _read(store, "a", "b", "c", "d") == (20.5, [b"a1", b"b2", b"", None])


def test_an_older_row_is_dropped_and_an_equal_time_replaces(store: Store) -> None:
    store.write("view", [WriteRow(KEY, 20.0, {"a": b"new"})])
    store.write("view", [WriteRow(KEY, 19.999999, {"a": b"old", "b": b"old"})])
    assert _read(store, "a", "b") == (20.0, [b"new", None])
    store.write("view", [WriteRow(KEY, 20.0, {"a": b"same time"})])
    assert _read(store, "a") == (20.0, [b"same time"])


def test_rows_of_one_batch_apply_in_order(store: Store) -> None:
    store.write(
        "view",
        [
            WriteRow(KEY, 5.0, {"a": b"5"}),
            WriteRow(KEY, 7.0, {"b": b"7"}),
            WriteRow(KEY, 6.0, {"a": b"6"}),
        ],
    )
    assert _read(store, "a", "b") == (7.0, [b"5", b"7"])


def test_an_entity_never_written_reads_as_missing(store: Store) -> None:
    store.write("view", [WriteRow(KEY, 1.0, {"a": b"x"})])
    (rows,) = store.read([ViewRead("view", ("a",))], [[b"other", KEY]])
    assert rows.event_seconds == [None, 1.0]
    assert rows.values == [[None, b"x"]]
