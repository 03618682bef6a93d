"""A materialization never replaces a value pushed online with an older snapshot.

The rule is the push's own (newest wins, ``pitstop.online.push``) applied to bulk writes: an
entity whose stored event time is newer than its latest feature-table row keeps the stored
values; a row at the same or a later time replaces them (a corrected snapshot must land).
"""

from __future__ import annotations

import datetime as dt

import pytest

from pitstop.materialize import materialize
from pitstop.online import codec
from pitstop.online.push import push
from pitstop.online.registry import FileRegistry
from pitstop.online.stores import ViewRead, open_online_store
from pitstop.settings import Settings
from tests.materialize.conftest import ITEMS, USERS, Folder
from tests.materialize.tables import DAY, write_feature_tables

PUSHED_USER, OLDER_PUSHED_USER = 7, 8


def _push_events_7d(settings: Settings, user: int, when: dt.datetime, events_7d: int) -> int:
    registry = FileRegistry(settings.registry_path, "pitstop").read()
    view = registry.views["user_activity"]
    columns: dict[str, list[object]] = {"user_id": [user], "event_timestamp": [when.isoformat()]}
    for field in view.features:
        columns[field.name] = [events_7d if field.name == "events_7d" else None]
    store = open_online_store(settings, "pitstop")
    try:
        return push(store, registry, "user_activity_push", columns).written
    finally:
        store.close()


def _stored_events_7d(settings: Settings, user: int) -> tuple[int | None, float | None]:
    store = open_online_store(settings, "pitstop")
    try:
        key = codec.entity_key(("user_id",), [user], ["INT64"])
        rows = store.read([ViewRead("user_activity", ("events_7d",))], [[key]])[0]
    finally:
        store.close()
    value = rows.values[0][0]
    return (None if not value else codec.decode_value(value)), rows.event_seconds[0]


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_full_materialize_keeps_values_pushed_after_the_snapshot(
    folder: Folder, redis_urls: tuple[str, str], store: str
) -> None:
    settings = folder("pushed", online_store=store, redis_url=redis_urls[0])
    assert materialize(settings).entities["user_activity"] == USERS
    # The tables' latest rows are at DAY + 20 h: one push is newer, one falls between the rows.
    newer = DAY + dt.timedelta(days=2)
    assert _push_events_7d(settings, PUSHED_USER, newer, 777) == 1
    between = DAY + dt.timedelta(hours=10)
    _, snapshot_seconds = _stored_events_7d(settings, OLDER_PUSHED_USER)
    assert snapshot_seconds is not None and between.timestamp() < snapshot_seconds
    assert _push_events_7d(settings, OLDER_PUSHED_USER, between, 555) == 0  # push's own rule

    report = materialize(settings, full=True)

    assert report.full
    assert _stored_events_7d(settings, PUSHED_USER) == (777, newer.timestamp())
    # Every other entity got the snapshot again, this one included.
    value, seconds = _stored_events_7d(settings, OLDER_PUSHED_USER)
    assert value != 555 and seconds == snapshot_seconds


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_a_snapshot_newer_than_the_push_replaces_it(
    folder: Folder, redis_urls: tuple[str, str], store: str
) -> None:
    settings = folder("pushed-then-built", online_store=store, redis_url=redis_urls[0])
    materialize(settings)
    _, snapshot_seconds = _stored_events_7d(settings, PUSHED_USER)
    assert snapshot_seconds is not None
    # A push one second after the snapshot, then a build whose row is newer still.
    pushed = dt.datetime.fromtimestamp(snapshot_seconds + 1, dt.timezone.utc)
    assert _push_events_7d(settings, PUSHED_USER, pushed, 999) == 1
    write_feature_tables(settings.features_dir, users=USERS, items=ITEMS, version=1)
    materialize(settings, full=True)
    value, seconds = _stored_events_7d(settings, PUSHED_USER)
    assert value != 999 and seconds is not None and seconds > pushed.timestamp()
