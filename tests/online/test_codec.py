"""pitstop's encodings of Feast's online store, byte for byte against Feast's own functions."""

from __future__ import annotations

import datetime as dt

import pytest
from feast.feature_server_utils import _timestamp_to_str
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import _redis_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from google.protobuf.timestamp_pb2 import Timestamp

from pitstop.online import codec

KEYS = [
    (["user_id"], [Value(int64_val=42)], [42], ["INT64"]),
    (["user_id"], [Value(int64_val=-(2**63))], [-(2**63)], ["INT64"]),
    (["shard"], [Value(int32_val=-7)], [-7], ["INT32"]),
    (["name"], [Value(string_val="zoë")], ["zoë"], ["STRING"]),
    (
        ["user_id", "item_id"],
        [Value(int64_val=42), Value(int64_val=7)],
        [42, 7],
        ["INT64", "INT64"],
    ),
]


@pytest.mark.parametrize(("names", "protos", "values", "types"), KEYS)
def test_entity_keys_are_feasts(
    names: list[str], protos: list[Value], values: list[object], types: list[str]
) -> None:
    feast_key = serialize_entity_key(EntityKey(join_keys=names, entity_values=protos), 3)
    assert codec.entity_key(names, values, types) == feast_key
    if len(names) == 1:
        assert codec.entity_keys_of(names[0], values, types[0]) == [feast_key]
    redis = _redis_key("pitstop", EntityKey(join_keys=names, entity_values=protos), 3)
    assert codec.redis_key(feast_key, "pitstop") == redis


@pytest.mark.parametrize(
    ("value", "value_type", "proto"),
    [
        (3, "INT64", Value(int64_val=3)),
        (2.5, "DOUBLE", Value(double_val=2.5)),
        ("a", "STRING", Value(string_val="a")),
        (True, "BOOL", Value(bool_val=True)),
        (1_776_000_000, "UNIX_TIMESTAMP", Value(unix_timestamp_val=1_776_000_000)),
        (None, "INT64", Value()),
    ],
)
def test_values_round_trip_as_feast_stores_them(
    value: object, value_type: str, proto: Value
) -> None:
    assert codec.encode_value(value, value_type) == proto.SerializeToString()
    assert codec.decode_value(proto.SerializeToString()) == value


def test_feasts_null_timestamp_decodes_to_null() -> None:
    stored = Value(unix_timestamp_val=codec.NULL_TIMESTAMP).SerializeToString()
    assert codec.decode_value(stored) is None
    assert codec.decode_value(Value(double_val=float("nan")).SerializeToString()) == "NaN"


@pytest.mark.parametrize("seconds", [0, 1_776_643_200, 1_776_643_200.5, 1_776_643_200.000123])
def test_timestamps_read_as_feasts_server_writes_them(seconds: float) -> None:
    stamp = Timestamp()
    stamp.FromDatetime(dt.datetime.fromtimestamp(seconds, dt.timezone.utc))
    assert codec.rfc3339(seconds) == _timestamp_to_str(stamp)
