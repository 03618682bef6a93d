"""pitstop's SQLite online store on a real file: what a write keeps, what a read returns."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from pitstop.online.sqlite_store import SqliteStore
from pitstop.online.stores import ViewRead, WriteRow

KEY = b"entity-1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "online_store.db", "proj")
    store.create_table("view")
    yield store
    store.close()


def _read(store: SqliteStore, *features: str) -> tuple[float | None, list[bytes | None]]:
    (rows,) = store.read([ViewRead("view", features)], [[KEY]])
    return rows.event_seconds[0], [column[0] for column in rows.values]


def test_a_newer_row_replaces_only_the_values_it_carries(store: SqliteStore) -> None:
    store.write("view", [WriteRow(KEY, 10.0, {"a": b"a1", "b": b"b1"})])
    store.write("view", [WriteRow(KEY, 20.5, {"b": b"b2", "c": b""})])
    assert _read(store, "a", "b", "c", "d") == (20.5, [b"a1", b"b2", b"", None])


def test_an_older_row_is_dropped_and_an_equal_time_replaces(store: SqliteStore) -> None:
    store.write("view", [WriteRow(KEY, 20.0, {"a": b"new"})])
    store.write("view", [WriteRow(KEY, 19.999999, {"a": b"old", "b": b"old"})])
    assert _read(store, "a", "b") == (20.0, [b"new", None])
    store.write("view", [WriteRow(KEY, 20.0, {"a": b"same time"})])
    assert _read(store, "a") == (20.0, [b"same time"])


def test_rows_of_one_batch_apply_in_order(store: SqliteStore) -> None:
    store.write(
        "view",
        [
            WriteRow(KEY, 5.0, {"a": b"5"}),
            WriteRow(KEY, 7.0, {"b": b"7"}),
            WriteRow(KEY, 6.0, {"a": b"6"}),
        ],
    )
    assert _read(store, "a", "b") == (7.0, [b"5", b"7"])


def test_one_row_per_entity_with_microsecond_times(store: SqliteStore) -> None:
    store.write("view", [WriteRow(KEY, 1.000001, {"a": b"x"})])
    store.write("view", [WriteRow(KEY, 2.000002, {"a": b"y"})])
    with sqlite3.connect(store.path) as connection:
        rows = connection.execute('select entity_key, event_ts from "proj__view"').fetchall()
    connection.close()
    assert rows == [(KEY, 2_000_002)]
    assert store.stored_features("view") == {"a"}


def test_a_missing_table_is_a_clear_error(store: SqliteStore) -> None:
    from pitstop.errors import OnlineStoreUnavailableError

    with pytest.raises(OnlineStoreUnavailableError, match="no such table.*pitstop apply"):
        store.read([ViewRead("other", ("a",))], [[KEY]])
