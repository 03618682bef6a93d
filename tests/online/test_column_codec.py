"""The column codec gives Feast's bytes exactly: entity keys, values, timestamps."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType

from pitstop.online import column_codec

UTC = dt.timezone.utc
COLUMNS = {
    "int64": (
        pa.array([0, 1, -1, 127, 128, 300, 2**40, -(2**40), 2**62, -(2**63), 2**63 - 1]),
        ValueType.INT64,
    ),
    "int64 with nulls": (pa.array([0, None, 5, -7, 2**50, None, 16383, 16384]), ValueType.INT64),
    "int64 all null": (pa.array([None, None], pa.int64()), ValueType.INT64),
    "int32": (pa.array([0, 1, -1, 2**31 - 1, -(2**31), None], pa.int32()), ValueType.INT32),
    "double": (
        pa.array([0.0, -0.0, 1.5, None, float("nan"), float("inf"), 1e300, -2.5e-300, 0.1]),
        ValueType.DOUBLE,
    ),
    "float": (pa.array([0.0, 0.1, None, -3.25], pa.float32()), ValueType.FLOAT),
    "timestamp": (
        pa.array(
            [
                dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
                None,
                dt.datetime(1960, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
                dt.datetime(1970, 1, 1, tzinfo=UTC),
            ],
            pa.timestamp("us", tz="UTC"),
        ),
        ValueType.UNIX_TIMESTAMP,
    ),
    "string (Feast's path)": (pa.array(["a", None, "", "é"]), ValueType.STRING),
    "bool (Feast's path)": (pa.array([True, False, None]), ValueType.BOOL),
}


def _feast_protos(column: pa.Array, value_type: ValueType) -> list:
    return python_values_to_proto_values(column.to_numpy(zero_copy_only=False), value_type)


@pytest.mark.parametrize("name", COLUMNS)
def test_value_bytes_equal_feast(name: str) -> None:
    column, value_type = COLUMNS[name]
    expected = [proto.SerializeToString() for proto in _feast_protos(column, value_type)]
    assert column_codec.value_bytes(column, value_type.name).to_pylist() == expected


def test_value_bytes_of_a_sliced_column() -> None:
    column = pa.chunked_array([pa.array([1, 2, 3, 400, 5])]).combine_chunks().slice(2, 2)
    assert column_codec.value_bytes(column, ValueType.INT64.name).to_pylist() == [
        b" \x03",
        b" \x90\x03",
    ]


@pytest.mark.parametrize(
    ("column", "value_type"),
    [
        (pa.array([0, 1, -1, 2**62, 123456789]), ValueType.INT64),
        (pa.array([0, -5, 2**31 - 1], pa.int32()), ValueType.INT32),
        (pa.array(["u1", "", "é"]), ValueType.STRING),
    ],
)
def test_entity_keys_equal_feast(column: pa.Array, value_type: ValueType) -> None:
    expected = [
        serialize_entity_key(
            EntityKey(join_keys=["user_id"], entity_values=[proto]),
            entity_key_serialization_version=3,
        )
        for proto in _feast_protos(column, value_type)
    ]
    got = column_codec.entity_keys(["user_id"], [column], [value_type.name])
    assert got.to_pylist() == expected


def test_entity_keys_of_two_join_keys_equal_feast() -> None:
    users, items = pa.array([1, 2]), pa.array([10, 20])
    expected = [
        serialize_entity_key(
            EntityKey(join_keys=["user_id", "item_id"], entity_values=[u, i]),
            entity_key_serialization_version=3,
        )
        for u, i in zip(
            _feast_protos(users, ValueType.INT64),
            _feast_protos(items, ValueType.INT64),
            strict=False,
        )
    ]
    got = column_codec.entity_keys(["user_id", "item_id"], [users, items], ["INT64", "INT64"])
    assert got.to_pylist() == expected


TIMES = pa.array(
    [
        dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
        dt.datetime(1970, 1, 1, tzinfo=UTC),
        dt.datetime(2026, 3, 1, tzinfo=UTC),
        dt.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
    ],
    pa.timestamp("us", tz="UTC"),
)


def test_epoch_micros_array_equals_the_list() -> None:
    assert column_codec.epoch_micros_array(TIMES).tolist() == column_codec.epoch_micros(TIMES)


def test_epoch_micros_are_each_times_microseconds() -> None:
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    expected = [(value - epoch) // dt.timedelta(microseconds=1) for value in TIMES.to_pylist()]
    assert column_codec.epoch_micros(TIMES) == expected


def test_resp_bulks_are_each_rows_bulk_strings_back_to_back() -> None:
    keys = pa.array([b"k1", b"", b"key-3" * 3], pa.binary()).slice(0)
    values = pa.array([b"\x08\x01", b"x" * 12, b""], pa.binary())
    body, ends = column_codec.resp_bulks([keys, values])
    rows = [
        b"$2\r\nk1\r\n$2\r\n\x08\x01\r\n",
        b"$0\r\n\r\n$12\r\n" + b"x" * 12 + b"\r\n",
        b"$15\r\n" + b"key-3" * 3 + b"\r\n$0\r\n\r\n",
    ]
    assert body == b"".join(rows)
    assert [body[start:end] for start, end in zip(ends[:-1], ends[1:], strict=True)] == rows


def test_resp_bulks_of_a_sliced_column_start_at_its_first_row() -> None:
    column = pa.array([b"skipped", b"ab", b"c"], pa.binary()).slice(1)
    body, ends = column_codec.resp_bulks([column])
    assert body == b"$2\r\nab\r\n$1\r\nc\r\n"
    assert list(ends) == [0, 8, 15]
