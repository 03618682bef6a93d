"""pitstop's Redis layout on a real server (docs/architecture.md §1, "The online layout"): one
hash field per entity and view holding a headed row; a push that meets another writer between
its read and its write merges again; a flushed database gets its layouts back on the next write."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
import redis

from pitstop.online import codec, packed_row
from pitstop.online.redis_store import LAYOUTS, RedisStore, row_field
from pitstop.online.stores import ViewRead, WriteRow

KEY = codec.entity_key(["user_id"], [7], ["INT64"])
REDIS_URL = "redis://127.0.0.1:6379/9"  # shared with test_stores.py, flushed by each test


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # no Redis server: the test fails here, loudly
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def test_a_row_is_one_field_holding_time_layout_and_values(client: redis.Redis) -> None:
    store = RedisStore(REDIS_URL, "proj")
    store.write("view", [WriteRow(KEY, 1.5, {"a": b"\x08\x01", "b": b""})])
    stored = client.hgetall(codec.redis_key(KEY, "proj"))
    layout = packed_row.layout_id(("a", "b"))
    # 1.5 s = 1,500,000 us; two end offsets (2, 2); then the values.
    expected = (
        (1_500_000).to_bytes(8, "little")
        + layout.to_bytes(8, "little", signed=True)
        + (2).to_bytes(4, "little")
        + (2).to_bytes(4, "little")
        + b"\x08\x01"
    )
    assert stored == {row_field("view"): expected}
    assert client.hget(LAYOUTS, str(layout)) == b'["a","b"]'


class _Interrupted(RedisStore):
    """A store whose first read of a push is followed by another writer's push."""

    def __init__(self, other: RedisStore, row: WriteRow) -> None:
        super().__init__(REDIS_URL, "proj")
        self._other, self._row = other, row

    def _get(self, hashes: Sequence[bytes], fields: Sequence[bytes]) -> list[bytes | None]:
        found = super()._get(hashes, fields)
        if self._other is not None:
            other, self._other = self._other, None  # once
            other.write("view", [self._row])
        return found


def test_a_push_that_meets_another_writer_merges_again(client: redis.Redis) -> None:
    other = RedisStore(REDIS_URL, "proj")
    other.write("view", [WriteRow(KEY, 1.0, {"a": b"a1", "b": b"b1"})])
    store = _Interrupted(other, WriteRow(KEY, 2.0, {"b": b"b2"}))
    store.write("view", [WriteRow(KEY, 3.0, {"a": b"a3"})])
    (rows,) = other.read([ViewRead("view", ("a", "b"))], [[KEY]])
    # The other writer's b (at 2.0) is kept: written without the second read it would be b1.
    assert (rows.event_seconds, rows.values) == ([3.0], [[b"a3"], [b"b2"]])


def test_a_flushed_database_gets_its_layouts_back(client: redis.Redis) -> None:
    store = RedisStore(REDIS_URL, "proj")
    store.write("view", [WriteRow(KEY, 1.0, {"a": b"x"})])
    client.flushdb()
    store.write("view", [WriteRow(KEY, 2.0, {"a": b"y"})])
    fresh = RedisStore(REDIS_URL, "proj")  # another process: nothing cached
    (rows,) = fresh.read([ViewRead("view", ("a",))], [[KEY]])
    assert rows.values == [[b"y"]]
