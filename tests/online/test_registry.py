"""The registry snapshot says what Feast's SDK says of a view: table name, keys, types, source."""

from __future__ import annotations

import datetime as dt

import pytest
from feast import Entity, FeatureView, Field, FileSource
from feast.infra.online_stores.helpers import compute_table_id, compute_versioned_name
from feast.types import Float64, Int32, Int64, String, UnixTimestamp
from feast.value_type import ValueType

from pitstop.online import codec
from pitstop.online.registry import RegistrySnapshot
from pitstop.online.value_types import name_of, number_of


def _view(version: int | None) -> FeatureView:
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    view = FeatureView(
        name="user_activity",
        entities=[user],
        ttl=dt.timedelta(days=9),
        schema=[
            Field(name="user_id", dtype=Int64),
            Field(name="events_7d", dtype=Int64),
            Field(name="revenue_7d", dtype=Float64),
            Field(name="shard", dtype=Int32),
            Field(name="country", dtype=String),
            Field(name="last_event_at", dtype=UnixTimestamp),
        ],
        source=FileSource(
            path="/somewhere/features/user_activity.parquet",
            timestamp_field="event_timestamp",
            created_timestamp_column="created_timestamp",
        ),
    )
    view.current_version_number = version
    return view


@pytest.mark.parametrize("versioning", [False, True])
@pytest.mark.parametrize("version", [None, 0, 3])
def test_online_names_are_feasts(versioning: bool, version: int | None) -> None:
    view = _view(version)
    snapshot = RegistrySnapshot.from_protos(
        "pitstop",
        "1",
        versioning=versioning,
        entities=[],
        feature_views=[view.to_proto()],
        on_demand_views=[],
        feature_services=[],
    )
    read = snapshot.views["user_activity"]
    assert read.online_name == compute_versioned_name(view, versioning)
    # pitstop's table is never the one Feast's own SQLite store would make for the view.
    assert codec.table_name("pitstop", read.online_name) == f"pitstop__{read.online_name}"
    assert codec.table_name("pitstop", read.online_name) != compute_table_id(
        "pitstop", view, versioning
    )


def test_keys_features_and_source_are_the_sdks() -> None:
    view = _view(None)
    snapshot = RegistrySnapshot.from_protos(
        "pitstop",
        "1",
        entities=[],
        feature_views=[view.to_proto()],
        on_demand_views=[],
        feature_services=[],
    )
    read = snapshot.views["user_activity"]

    def numbers(fields: object) -> list[tuple[str, int]]:
        return [(f.name, int(f.dtype.to_value_type().value)) for f in fields]  # type: ignore[attr-defined]

    assert [(f.name, number_of(f.value_type)) for f in read.entity_columns] == numbers(
        view.entity_columns
    )
    assert [(f.name, number_of(f.value_type)) for f in read.features] == numbers(view.features)
    assert read.source is not None
    assert read.source.path == view.batch_source.path  # type: ignore[attr-defined]
    assert read.source.timestamp_field == view.batch_source.timestamp_field
    assert read.source.created_timestamp_column == view.batch_source.created_timestamp_column


def test_value_type_names_are_feasts() -> None:
    for value_type in ValueType:
        if value_type.name in ("PDF_BYTES", "IMAGE_BYTES"):  # not in Value.proto
            continue
        assert name_of(value_type.value) == value_type.name
        assert number_of(value_type.name) == value_type.value
