"""What to materialize, read from the Feast registry: views, join keys, features, types.

This is the batch job's only use of Feast's SDK (and the table names Feast's online stores
use): the registry says which views are online, their entities' join keys and value types,
their features and value types, the source's timestamp columns and the project. The feature
table itself is read from this data folder (``<data>/features/<file>.parquet``), under the file
name the registry records, so a registry shared by several data folders (a SQL registry) still
reads the local tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstop.errors import ConfigurationError
from pitstop.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore


@dataclass(frozen=True)
class Column:
    name: str
    value_type: int  # feast.value_type.ValueType's number


@dataclass(frozen=True)
class ViewSpec:
    """One online feature view, as the materializer needs it."""

    name: str
    project: str
    table_id: str  # the SQLite table name, Feast's compute_table_id
    versioned_name: str  # the name in Redis hash fields, Feast's compute_versioned_name
    join_keys: tuple[Column, ...]
    features: tuple[Column, ...]
    source: Path
    timestamp_field: str
    created_timestamp_column: str | None

    def fingerprint(self) -> str:
        """What the online rows' layout depends on; a change means a full rewrite."""
        parts = [self.project, self.table_id, self.timestamp_field]
        parts += [f"{c.name}:{c.value_type}" for c in (*self.join_keys, *self.features)]
        return "|".join(parts)


@dataclass(frozen=True)
class Registry:
    project: str
    views: list[ViewSpec]
    entity_key_serialization_version: int


def read_registry(settings: Settings, store: FeatureStore) -> Registry:
    """The online views of ``store``'s registry with their tables in this data folder."""
    from feast.infra.online_stores.helpers import compute_table_id, compute_versioned_name

    config = store.config
    if config.entity_key_serialization_version != 3:
        raise ConfigurationError(
            "pitstop's materializer writes entity keys in Feast's version 3; "
            f"feature_store.yaml says {config.entity_key_serialization_version}"
        )
    versioning = bool(config.registry.enable_online_feature_view_versioning)
    views = []
    for view in store.list_feature_views():
        if not view.online:
            continue
        views.append(
            _spec(
                settings, store.project, view, versioning, compute_table_id, compute_versioned_name
            )
        )
    return Registry(store.project, views, config.entity_key_serialization_version)


def _spec(
    settings: Settings,
    project: str,
    view: Any,
    versioning: bool,
    table_id: Any,
    versioned_name: Any,
) -> ViewSpec:
    source = view.batch_source
    path = getattr(source, "path", None)
    if not path:
        raise ConfigurationError(f"view {view.name}: its batch source is not a file")
    return ViewSpec(
        name=view.name,
        project=project,
        table_id=table_id(project, view, versioning),
        versioned_name=versioned_name(view, versioning),
        join_keys=tuple(
            Column(field.name, int(field.dtype.to_value_type().value))
            for field in view.entity_columns
        ),
        features=tuple(
            Column(field.name, int(field.dtype.to_value_type().value)) for field in view.features
        ),
        source=settings.features_dir / Path(path).name,
        timestamp_field=source.timestamp_field,
        created_timestamp_column=source.created_timestamp_column or None,
    )
