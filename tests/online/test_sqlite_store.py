"""pitstop's SQLite online store on a real file (what every store's writes keep: test_stores.py)."""

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
