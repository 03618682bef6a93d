"""A feature removed from a view leaves the online store: ``forget_features`` deletes the
values no current view has, and nothing else (both stores, the same registry)."""

from __future__ import annotations

import dataclasses

import pytest

from pitstop.materialize import materialize
from pitstop.online import codec
from pitstop.online.registry import FileRegistry
from pitstop.online.stores import ViewRead, open_online_store
from pitstop.settings import Settings
from tests.materialize.conftest import ITEMS, USERS, Folder

REMOVED = "events_7d"


def _stored(settings: Settings, view: str, key: str, entity: int, features: tuple[str, ...]):
    store = open_online_store(settings, "pitstop")
    try:
        entity_key = codec.entity_key((key,), [entity], ["INT64"])
        rows = store.read([ViewRead(view, features)], [[entity_key]])[0]
    finally:
        store.close()
    return [values[0] is not None for values in rows.values]  # per feature, then per entity


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_forget_features_deletes_only_what_no_view_has(
    folder: Folder, redis_urls: tuple[str, str], store: str
) -> None:
    settings = folder("removed", online_store=store, redis_url=redis_urls[0])
    materialize(settings)
    assert _stored(settings, "user_activity", "user_id", 3, (REMOVED, "events_30d")) == [True, True]
    registry = FileRegistry(settings.registry_path, "pitstop").read()
    activity = registry.views["user_activity"]
    without = dataclasses.replace(
        activity, features=tuple(f for f in activity.features if f.name != REMOVED)
    )
    views = [without if view.name == "user_activity" else view for view in registry.views.values()]

    online = open_online_store(settings, "pitstop", bulk=True)
    try:
        deleted = online.forget_features(views)
        again = online.forget_features(views)
    finally:
        online.close()

    assert (deleted, again) == (USERS, 0)  # one value per user, once
    assert _stored(settings, "user_activity", "user_id", 3, (REMOVED, "events_30d")) == [
        False,
        True,
    ]
    item_features = tuple(f.name for f in registry.views["item_popularity"].features)
    assert all(_stored(settings, "item_popularity", "item_id", ITEMS, item_features))
