"""Feast's online-store plugin for pitstop's layouts (one row per entity and view, in SQLite
or in Redis).

``feature_store.yaml`` names it::

    online_store:
      type: pitstop.online.feast_store.PitstopOnlineStore
      path: ${PITSTOP_DATA_DIR}/online_store.db

or, for Redis (pitstop writes this section when ``PITSTOP_ONLINE_STORE=redis``)::

    online_store:
      type: pitstop.online.feast_store.PitstopOnlineStore
      redis_url: redis://127.0.0.1:6379/0
      redis_type: redis            # or redis_cluster, redis_url then naming its nodes

so ``feast apply`` (tables), ``feast materialize`` and ``FeatureStore.write_to_online_store``
(writes), ``FeatureStore.get_online_features``, ``feast serve`` and Feast's remote client
(reads) all go through :class:`~pitstop.online.sqlite_store.SqliteStore` or
:class:`~pitstop.online.redis_store.RedisStore`, the code the lookup API, push and pitstop's
materializer use: one layout per store, one implementation
(docs/architecture.md §1, "The online layout"). Like every pitstop writer, and unlike Feast's
own stores, a write keeps the newest row (an older row does not replace a newer one).

This module imports Feast (it is Feast's plugin); nothing else in the online path does.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from feast import Entity
from feast.feature_view import FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import compute_versioned_name
from feast.infra.online_stores.online_store import OnlineStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import FeastConfigBaseModel, RepoConfig
from pydantic import StrictStr, field_validator

from pitstop import coverage
from pitstop.errors import ConfigurationError
from pitstop.online.sqlite_store import SqliteStore
from pitstop.online.stores import ViewRead, WriteRow

if TYPE_CHECKING:
    from pitstop.online.redis_store import RedisStore

    Store = SqliteStore | RedisStore

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class PitstopOnlineStoreConfig(FeastConfigBaseModel):
    """The plugin's section of ``feature_store.yaml``."""

    type: Literal["pitstop.online.feast_store.PitstopOnlineStore"] = (
        "pitstop.online.feast_store.PitstopOnlineStore"
    )
    # The SQLite file; a relative path is read from the feature repo's folder, as Feast's
    # own SQLite store reads its ``path``.
    path: StrictStr = "online_store.db"
    # Set: the rows are in Redis at this URL (``redis://host:port/db``; for a cluster, its
    # nodes ``redis://host1:port1,host2:port2``), not in ``path``.
    redis_url: StrictStr | None = None
    redis_type: Literal["redis", "redis_cluster"] = "redis"

    @field_validator("path", "redis_url")
    @classmethod
    def _variables_set(cls, value: str | None) -> str | None:
        """Feast keeps a ``${VAR}`` of an unset variable as it is: plain `feast -c
        feature_repo ...` without PITSTOP_DATA_DIR listed nothing and made a folder named
        ``${PITSTOP_DATA_DIR}`` in the repo. Refused in one line instead."""
        unset = re.findall(r"\$\{(\w+)\}", value or "")
        if unset:
            raise ValueError(
                f"{unset[0]} is not set: feature_store.yaml reads its paths from it; set it "
                "to pitstop's data folder (pitstop's own commands set it for you)"
            )
        return value


class PitstopOnlineStore(OnlineStore):
    """Feast's ``OnlineStore`` interface over :class:`SqliteStore` or :class:`RedisStore`."""

    def __init__(self) -> None:
        self._stores: dict[tuple[str, str], Store] = {}

    def _store(self, config: RepoConfig) -> Store:
        if config.entity_key_serialization_version != 3:
            raise ConfigurationError(
                "pitstop's online store keeps entity keys in Feast's version 3; "
                f"feature_store.yaml says {config.entity_key_serialization_version}"
            )
        section = config.online_store
        if section.redis_url:
            key = (f"{section.redis_type}:{section.redis_url}", config.project)
        else:
            path = Path(section.path)
            if not path.is_absolute() and config.repo_path is not None:
                path = Path(config.repo_path) / path
            key = (str(path), config.project)
        store = self._stores.get(key)
        if store is None:
            store = self._stores[key] = _open(section, key[0], config.project)
        return store

    @staticmethod
    def _view(config: RepoConfig, table: FeatureView) -> str:
        versioning = config.registry.enable_online_feature_view_versioning
        return str(compute_versioned_name(table, versioning))

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: list[tuple[EntityKeyProto, dict[str, ValueProto], dt.datetime, dt.datetime | None]],
        progress: Callable[[int], Any] | None,
    ) -> None:
        store = self._store(config)
        view = self._view(config, table)
        store.create_table(view)
        rows = [
            WriteRow(
                entity_key=serialize_entity_key(key, entity_key_serialization_version=3),
                event_seconds=_seconds(event_time),
                values={name: value.SerializeToString() for name, value in values.items()},
            )
            for key, values, event_time, _ in data
        ]
        if rows:
            store.write(view, rows)
        # How far the written data reaches, as pitstop's materializer records it; Feast does
        # not say its end date here, so a `feast materialize` with an end before the table's
        # coverage records the table's (pitstop.coverage).
        covered = coverage.of_source(table.batch_source)
        if covered is not None:
            store.record_coverage(view, min(covered.timestamp(), time.time()))
        if progress:
            progress(len(data))

    def online_read(
        self,
        config: RepoConfig,
        table: FeatureView,
        entity_keys: list[EntityKeyProto],
        requested_features: list[str] | None = None,
    ) -> list[tuple[dt.datetime | None, dict[str, ValueProto] | None]]:
        store = self._store(config)
        features = tuple(requested_features or (feature.name for feature in table.features))
        keys = [
            serialize_entity_key(key, entity_key_serialization_version=3) for key in entity_keys
        ]
        (rows,) = store.read([ViewRead(self._view(config, table), features)], [keys])
        result: list[tuple[dt.datetime | None, dict[str, ValueProto] | None]] = []
        for index, seconds in enumerate(rows.event_seconds):
            if seconds is None:
                result.append((None, None))
                continue
            values: dict[str, ValueProto] = {}
            for name, column in zip(features, rows.values, strict=True):
                stored = column[index]
                if stored is not None:
                    value = ValueProto()
                    value.ParseFromString(stored)
                    values[name] = value
            result.append((_EPOCH + dt.timedelta(microseconds=round(seconds * 1e6)), values))
        return result

    def update(
        self,
        config: RepoConfig,
        tables_to_delete: Sequence[FeatureView],
        tables_to_keep: Sequence[FeatureView],
        entities_to_delete: Sequence[Entity],
        entities_to_keep: Sequence[Entity],
        partial: bool,
    ) -> None:
        store = self._store(config)
        try:
            for table in tables_to_keep:
                store.create_table(self._view(config, table))
            for table in tables_to_delete:
                store.drop_table(self._view(config, table))
        finally:
            store.close()

    def teardown(
        self,
        config: RepoConfig,
        tables: Sequence[FeatureView],
        entities: Sequence[Entity],
    ) -> None:
        store = self._store(config)
        try:
            for table in tables:
                store.drop_table(self._view(config, table))
        finally:
            store.close()


def _open(section: PitstopOnlineStoreConfig, where: str, project: str) -> Store:
    if section.redis_url and section.redis_type == "redis_cluster":
        from pitstop.online.redis_cluster_store import RedisClusterStore

        return RedisClusterStore(section.redis_url, project, timeouts=False)
    if section.redis_url:
        from pitstop.online.redis_store import RedisStore

        return RedisStore(section.redis_url, project, timeouts=False)
    return SqliteStore(Path(where), project)


def _seconds(moment: dt.datetime) -> float:
    """Epoch seconds of a Feast timestamp (a naive one is UTC, as Feast says)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return (moment - _EPOCH) / dt.timedelta(seconds=1)
