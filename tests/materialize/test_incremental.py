"""Only changed entities are written; a lost store is noticed and rewritten in full."""

from __future__ import annotations

import dataclasses
import sqlite3

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import redis

from pitstop.materialize import materialize
from pitstop.settings import Settings
from tests.materialize.conftest import ITEMS, USERS, Folder

ALL = {"user_activity": USERS, "user_profile": USERS, "item_popularity": ITEMS}
NONE = dict.fromkeys(ALL, 0)


def change_users(settings: Settings, users: list[int]) -> None:
    """Add 1 to events_7d of the given users' rows in user_activity."""
    path = settings.features_dir / "user_activity.parquet"
    table = pq.read_table(path)
    chosen = pc.is_in(table["user_id"], pa.array(users, pa.int64()))
    events = pc.if_else(chosen, pc.add(table["events_7d"], 1), table["events_7d"])
    table = table.set_column(table.schema.get_field_index("events_7d"), "events_7d", events)
    pq.write_table(table, path)


def append_newer_row(settings: Settings, user: int) -> None:
    """The same values one hour later: a newer timestamp is a change."""
    path = settings.features_dir / "user_profile.parquet"
    table = pq.read_table(path)
    row = table.filter(pc.equal(table["user_id"], user))
    latest = row.slice(row.num_rows - 1, 1)
    for name in ("event_timestamp", "created_timestamp"):
        later = pc.add(latest[name], pa.scalar(3_600_000_000, pa.duration("us")))
        latest = latest.set_column(latest.schema.get_field_index(name), name, later)
    pq.write_table(pa.concat_tables([table, latest]), path)


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_second_run_writes_nothing_and_changes_only_changed(
    folder: Folder, redis_urls: tuple[str, str], store: str
) -> None:
    settings = folder("incremental", online_store=store, redis_url=redis_urls[0])
    first = materialize(settings)
    assert first.entities == ALL and first.full

    again = materialize(settings)
    assert again.entities == NONE and not again.full

    change_users(settings, [3, 5, 8])
    append_newer_row(settings, 11)
    changed = materialize(settings)
    assert changed.entities == {"user_activity": 3, "user_profile": 1, "item_popularity": 0}

    assert materialize(settings, full=True).entities == ALL
    assert materialize(settings).entities == NONE


def test_deleted_sqlite_file_is_rewritten(folder: Folder) -> None:
    settings = folder("deleted")
    materialize(settings)
    for suffix in ("", "-wal", "-shm"):
        settings.online_store_path.with_name(settings.online_store_path.name + suffix).unlink(
            missing_ok=True
        )
    report = materialize(settings)
    assert report.entities == ALL and report.full
    with sqlite3.connect(settings.online_store_path) as connection:
        count = connection.execute("select count(*) from pitstop__user_profile").fetchone()[0]
    assert count == USERS  # one row per entity


def test_dropped_sqlite_table_is_rewritten(folder: Folder) -> None:
    settings = folder("dropped")
    materialize(settings)
    with sqlite3.connect(settings.online_store_path) as connection:
        connection.execute("delete from pitstop__item_popularity")
    report = materialize(settings)
    assert report.entities == {"user_activity": 0, "user_profile": 0, "item_popularity": ITEMS}


def test_flushed_redis_is_rewritten(folder: Folder, redis_urls: tuple[str, str]) -> None:
    settings = folder("flushed", online_store="redis", redis_url=redis_urls[0])
    materialize(settings)
    redis.Redis.from_url(redis_urls[0]).flushdb()
    report = materialize(settings)
    assert report.entities == ALL and report.full
    # + 3 markers and the layouts
    assert redis.Redis.from_url(redis_urls[0]).dbsize() == USERS + ITEMS + 4


def test_another_store_is_written_in_full(folder: Folder, redis_urls: tuple[str, str]) -> None:
    """The state belongs to the store it was written to; switching stores rewrites all."""
    settings = folder("switch", online_store="redis", redis_url=redis_urls[0])
    materialize(settings)
    moved = dataclasses.replace(settings, redis_url=redis_urls[1])
    assert materialize(moved).entities == ALL
