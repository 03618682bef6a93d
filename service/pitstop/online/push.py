"""Fresh rows pushed into the online store through a push source, as Feast's ``push`` does.

Every batch view whose source is the push source gets the rows: the view's join keys,
``event_timestamp`` (ISO 8601 or epoch seconds) and all its features, column-oriented. Values
are checked against the features' types and encoded as Feast encodes them; a row older than
what the store already holds for its entity is skipped (newest wins, whatever order pushes
arrive in), so a late push never replaces a fresher value.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pitstop.errors import InvalidInputError, NotFoundError
from pitstop.online import codec
from pitstop.online.registry import RegistrySnapshot, ViewDef
from pitstop.online.stores import OnlineStore, ViewRead, WriteRow

EVENT_TIMESTAMP = "event_timestamp"
# A pushed row's event time must be after 1970 and at most this far ahead of the server's clock:
# a row dated later would win over every real push until then (newest wins).
FUTURE_SECONDS = 86_400
FLOAT32_MAX = 3.4028234663852886e38
_CHECKS: dict[str, Callable[[Any], bool]] = {
    "INT64": lambda v: type(v) is int and -(2**63) <= v < 2**63,
    "INT32": lambda v: type(v) is int and -(2**31) <= v < 2**31,
    "DOUBLE": lambda v: type(v) is int or (type(v) is float and math.isfinite(v)),
    "FLOAT": lambda v: type(v) in (int, float) and math.isfinite(v) and abs(v) <= FLOAT32_MAX,
    "STRING": lambda v: isinstance(v, str),
    "BOOL": lambda v: isinstance(v, bool),
}


class UnknownPushSourceError(NotFoundError):
    """No feature view is fed by a push source of that name."""


@dataclass(frozen=True)
class PushOutcome:
    feature_views: list[str]
    rows: int
    written: int


def push(
    store: OnlineStore,
    registry: RegistrySnapshot,
    source: str,
    columns: Mapping[str, Sequence[Any]],
) -> PushOutcome:
    views = [view for view in registry.views.values() if view.push_source == source]
    if not views:
        sources = sorted({view.push_source for view in registry.views.values() if view.push_source})
        raise UnknownPushSourceError(
            f"push source {source[:80]!r} not found; known: {', '.join(sources) or 'none'}"
        )
    rows = _row_count(columns)
    stamps = [
        _event_time(row, value) for row, value in enumerate(columns.get(EVENT_TIMESTAMP) or [])
    ]
    if not stamps:
        raise InvalidInputError(f"df: missing column {EVENT_TIMESTAMP!r}")
    written = 0
    for view in views:
        written += _push_view(store, registry, view, columns, stamps, rows)
    return PushOutcome([view.name for view in views], rows, written)


def _push_view(
    store: OnlineStore,
    registry: RegistrySnapshot,
    view: ViewDef,
    columns: Mapping[str, Sequence[Any]],
    stamps: list[float],
    rows: int,
) -> int:
    expected = {*view.join_keys, EVENT_TIMESTAMP, *(field.name for field in view.features)}
    unknown = [name for name in columns if name not in expected and name != "created_timestamp"]
    if unknown:
        raise InvalidInputError(
            f"df: column {unknown[0][:80]!r} is not in feature view {view.name!r}"
        )
    missing = [name for name in expected if name not in columns]
    if missing:
        raise InvalidInputError(
            f"df: feature view {view.name!r} needs column {sorted(missing)[0]!r}"
        )
    key_types = {entity.join_key: entity.value_type for entity in registry.entities.values()}
    types = [key_types.get(key, "INT64") for key in view.join_keys]
    for key, value_type in zip(view.join_keys, types, strict=True):
        check = _CHECKS.get(value_type)
        for row, value in enumerate(columns[key]):
            if check is not None and not check(value):
                raise InvalidInputError(f"df: {key!r} row {row} is not a valid {value_type} key")
    keys = [
        codec.entity_key(view.join_keys, [columns[key][row] for key in view.join_keys], types)
        for row in range(rows)
    ]
    encoded: dict[str, list[bytes]] = {
        field.name: [
            _encode(field.name, field.value_type, row, value)
            for row, value in enumerate(columns[field.name])
        ]
        for field in view.features
    }
    # Newest wins: within the push, and against what the store holds.
    latest: dict[bytes, int] = {}
    for row, entity in enumerate(keys):
        if entity not in latest or stamps[row] >= stamps[latest[entity]]:
            latest[entity] = row
    unique = list(latest)
    stored = store.read([ViewRead(view.online_name, tuple(encoded))], [unique])[0]
    fresh = [
        WriteRow(
            entity_key=key,
            event_seconds=stamps[latest[key]],
            values={name: values[latest[key]] for name, values in encoded.items()},
        )
        for key, current in zip(unique, stored.event_seconds, strict=True)
        if current is None or stamps[latest[key]] >= current
    ]
    if fresh:
        store.write(view.online_name, fresh)
    return len(fresh)


def _row_count(columns: Mapping[str, Sequence[Any]]) -> int:
    lengths = {len(values) for values in columns.values()}
    if not columns or lengths == {0}:
        raise InvalidInputError("df: no rows")
    if len(lengths) != 1:
        raise InvalidInputError("df: every column needs one value per row")
    return lengths.pop()


def _encode(name: str, value_type: str, row: int, value: Any) -> bytes:
    if value is None:
        return b""
    if value_type == "UNIX_TIMESTAMP":
        return codec.encode_value(int(_seconds(row, value, name)), value_type)
    check = _CHECKS.get(value_type)
    if check is not None and not check(value):
        raise InvalidInputError(f"df: {name!r} row {row} is not a valid {value_type} value")
    return codec.encode_value(value, value_type)


def _event_time(row: int, value: Any) -> float:
    seconds = _seconds(row, value)
    latest = time.time() + FUTURE_SECONDS
    if not 0 <= seconds <= latest:
        raise InvalidInputError(
            f"df: {EVENT_TIMESTAMP!r} row {row} is {value!r}, outside 1970-01-01 .. a day past "
            "the server's clock; a pushed row carries the time its values became true"
        )
    return seconds


def _seconds(row: int, value: Any, name: str = EVENT_TIMESTAMP) -> float:
    seconds = codec.epoch_seconds(value)
    if seconds is None:
        raise InvalidInputError(f"df: {name!r} row {row} must be ISO 8601 or epoch seconds")
    return seconds
