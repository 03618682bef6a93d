"""Feast's online-store encodings: table names, entity keys, Redis keys, values.

Byte for byte what Feast 0.67 writes and reads (``feast/infra/key_encoding_utils.py`` with
``entity_key_serialization_version: 3``, ``feast/infra/online_stores/helpers.py``), so that
Feast's materialization, Feast's SDK and pitstop read and write the same store. The tests
compare every function here with Feast's own. These work one value at a time (lookups,
pushes); :mod:`pitstop.online.column_codec` writes the same bytes for a whole Arrow column
(the materializer), from the same vocabulary (:mod:`pitstop.online.value_types`).
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import struct
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from pitstop.online.feast_protos import proto_module
from pitstop.online.value_types import NUMBERS

# The value types Feast accepts in entity keys; a key carries the type's number.
_KEY_TYPES = {
    name: NUMBERS[name] for name in ("STRING", "INT32", "INT64", "BYTES", "UNIX_TIMESTAMP")
}
_PACK_INT32 = struct.Struct("<I").pack
_PACK_I32 = struct.Struct("<i").pack
_PACK_I64 = struct.Struct("<q").pack

JsonValue = Any
# How Feast's materialization stores a null timestamp: pandas' NaT as int64.
NULL_TIMESTAMP = -9223372036854775808


def versioned_name(view: str, version: int | None = None) -> str:
    """A view's name in the online store: ``<view>_v<N>`` for a version N > 0 (Feast's
    ``compute_versioned_name`` with online versioning on), else the view's name."""
    return f"{view}_v{version}" if version else view


def table_name(project: str, view: str) -> str:
    """The SQLite table of a view (its :func:`versioned_name`) in pitstop's online layout
    (:mod:`pitstop.online.sqlite_store`): ``<project>__<view>``. Feast's own SQLite store names
    its table ``<project>_<view>`` (``compute_table_id``); the second underscore keeps the two
    apart, so a file may hold both and Feast tearing down its own never drops pitstop's."""
    return f"{project}__{view}"


def entity_key(join_keys: Sequence[str], values: Sequence[Any], types: Sequence[str]) -> bytes:
    """Feast's serialized entity key (version 3) for one entity row.

    ``join_keys`` with their ``values`` and ValueType names; several keys are sorted by name,
    as Feast sorts them.
    """
    if len(join_keys) == 1:
        pairs = [(join_keys[0], values[0], types[0])]
    else:
        pairs = sorted(zip(join_keys, values, types, strict=True))
    parts = [_PACK_INT32(len(pairs))]
    for name, _, _ in pairs:
        encoded = name.encode("utf8")
        parts += (_PACK_INT32(2), _PACK_INT32(len(encoded)), encoded)
    for _, value, value_type in pairs:
        encoded = _key_value(value, value_type)
        parts += (_PACK_INT32(_KEY_TYPES[value_type]), _PACK_INT32(len(encoded)), encoded)
    return b"".join(parts)


def entity_keys_of(join_key: str, values: Sequence[Any], value_type: str) -> list[bytes]:
    """Serialized keys of one-key entities: the same bytes as :func:`entity_key`, faster."""
    pack = _FIXED_SIZE_PACKERS.get(value_type)
    if pack is None:  # strings and bytes: the length prefix depends on the value
        return [entity_key((join_key,), (value,), (value_type,)) for value in values]
    head = single_key_prefix(join_key, value_type)
    return [head + pack(value) for value in values]


_FIXED_SIZE_PACKERS = {"INT64": _PACK_I64, "UNIX_TIMESTAMP": _PACK_I64, "INT32": _PACK_I32}


@lru_cache(maxsize=256)
def single_key_prefix(join_key: str, value_type: str) -> bytes:
    """A one-key entity key up to its value, for fixed-size value types (INT64, INT32...)."""
    name = join_key.encode("utf8")
    size = len(_FIXED_SIZE_PACKERS[value_type](0))
    return b"".join(
        (
            _PACK_INT32(1),
            _PACK_INT32(2),
            _PACK_INT32(len(name)),
            name,
            _PACK_INT32(_KEY_TYPES[value_type]),
            _PACK_INT32(size),
        )
    )


def _key_value(value: Any, value_type: str) -> bytes:
    if value_type == "INT64" or value_type == "UNIX_TIMESTAMP":
        return _PACK_I64(value)
    if value_type == "INT32":
        return _PACK_I32(value)
    if value_type == "STRING":
        return str(value).encode("utf8")
    if value_type == "BYTES":
        return bytes(value)
    raise ValueError(f"Feast cannot use {value_type} values as entity keys")


def redis_key(serialized_entity_key: bytes, project: str) -> bytes:
    """The Redis hash of one entity: its serialized key followed by the project name."""
    return serialized_entity_key + project.encode("utf8")


# ---- values ----------------------------------------------------------------------------------
_VALUE_CLASS: Any = None


def _value_class() -> Any:
    global _VALUE_CLASS
    if _VALUE_CLASS is None:
        _VALUE_CLASS = proto_module("types.Value_pb2").Value
    return _VALUE_CLASS


# Decoded scalars by their stored bytes: feature values repeat a lot (0, small counts, the
# same timestamps), and a dictionary hit is ten times cheaper than parsing the proto.
DECODED: dict[bytes, Any] = {}
_DECODED_MAX = 200_000


def decode_value(payload: bytes | None) -> JsonValue:
    """A stored value proto as Feast's feature server puts it in JSON (None when unset)."""
    if not payload:
        return None
    try:
        return DECODED[payload]
    except KeyError:
        pass
    value = _decode(payload)
    if not isinstance(value, list):
        if len(DECODED) >= _DECODED_MAX:
            DECODED.clear()
        DECODED[payload] = value
    return value


def _decode(payload: bytes) -> JsonValue:
    value = _value_class().FromString(payload)
    which = value.WhichOneof("val")
    if which is None or which == "null_val":
        return None
    scalar = getattr(value, which)
    if which == "unix_timestamp_val" and scalar == NULL_TIMESTAMP:
        return None
    if which in ("double_val", "float_val"):
        return scalar if math.isfinite(scalar) else _non_finite(scalar)
    if which == "bytes_val":
        return base64.b64encode(scalar).decode("ascii")
    if which.endswith(("_list_val", "_set_val")):
        return list(scalar.val)
    return scalar


def _non_finite(number: float) -> str:
    if math.isnan(number):
        return "NaN"
    return "Infinity" if number > 0 else "-Infinity"


_ENCODERS = {
    "INT64": "int64_val",
    "INT32": "int32_val",
    "DOUBLE": "double_val",
    "FLOAT": "float_val",
    "STRING": "string_val",
    "BOOL": "bool_val",
    "BYTES": "bytes_val",
    "UNIX_TIMESTAMP": "unix_timestamp_val",
}


def encode_value(value: Any, value_type: str) -> bytes:
    """One value as the value proto Feast stores; None (or NaN) is an empty proto."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return b""
    if value_type == "UNIX_TIMESTAMP" and isinstance(value, dt.datetime):
        value = int(value.timestamp())
    try:
        field = _ENCODERS[value_type]
    except KeyError:
        raise ValueError(f"pitstop cannot encode {value_type} values") from None
    result: bytes = _value_class()(**{field: value}).SerializeToString()
    return result


# ---- timestamps ---------------------------------------------------------------------------
def epoch_seconds(value: Any) -> float | None:
    """A timestamp from JSON: epoch seconds (a number) or ISO 8601 (an offset converts to UTC,
    no offset means UTC). None when it is neither, or out of datetime's range."""
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        seconds = parsed.timestamp()
    if seconds is None:
        return None
    try:  # in UTC, inside datetime's range (9999-12-31T23:59:59-10:00 is not)
        dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return seconds


@lru_cache(maxsize=65536)
def rfc3339(seconds: float | None) -> str:
    """A timestamp as Feast's server writes it: ``2026-04-20T00:00:00Z`` (fraction if any)."""
    if not seconds:
        return "1970-01-01T00:00:00Z"
    whole = math.floor(seconds)
    base = dt.datetime.fromtimestamp(whole, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    nanos = round((seconds - whole) * 1e6) * 1000  # microseconds, as Feast's datetimes
    if nanos == 0:
        return base + "Z"
    if nanos % 1_000_000 == 0:
        return f"{base}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{base}.{nanos // 1_000:06d}Z"
    return f"{base}.{nanos:09d}Z"
