"""The entity file of a training set: its rules, checked before the heavy work.

Parquet or CSV with the feature service's join keys (integers) and ``event_timestamp``; every
other column passes through. A zone-less timestamp is UTC (said once, through ``note``); CSV
strings are parsed as UTC unless they carry an offset; sub-microsecond parts are floored.
``request_time`` defaults to the row's ``event_timestamp``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstop.errors import InvalidInputError, one_line
from pitstop.feast_adapter.repo import REQUEST_TIME, ServiceInputs

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ENTITY_TIMESTAMP", "ROW_NUMBER", "check_key_types", "columns", "prepare", "read"]

ENTITY_TIMESTAMP = "event_timestamp"
SUFFIXES = (".parquet", ".csv")
# Feast passes extra entity columns through; this one carries the entity file's row order.
ROW_NUMBER = "__pitstop_row_number"
# A time of day followed by Z or an offset: such a string names its zone; others are UTC.
_OFFSET_AFTER_TIME = r"\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d\d(?::?\d\d)?)$"


def columns(path: Path) -> list[str]:
    """The column names, read from the file's schema or header only."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidInputError(
            f"unsupported entity file type {path.suffix or '(no suffix)'!r} for {path}; "
            "use .parquet or .csv"
        )
    if not path.is_file():
        raise InvalidInputError(f"no entity file at {path}")
    if suffix == ".csv":
        with path.open(newline="") as handle:
            first = next(csv.reader(handle), None)
        if not first:
            raise InvalidInputError(f"{path} is empty; expected a header line")
        return first

    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except (pa.ArrowException, OSError) as error:
        raise InvalidInputError(f"{path} is not a readable Parquet file: {error}") from error


def check_key_types(path: Path, join_keys: list[str]) -> None:
    """Wrong key types of a Parquet entity file, from its schema (before reading any rows)."""
    if path.suffix.lower() != ".parquet":
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    for key in join_keys:
        kind = schema.field(key).type
        if not pa.types.is_integer(kind):
            hint = " (empty cells?)" if pa.types.is_floating(kind) else ""
            raise InvalidInputError(
                f"join key column {key} in {path} must hold integers, found {kind}{hint}"
            )


def read(path: Path) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa

    try:
        if path.suffix.lower() == ".csv":
            # Timestamps stay text here; utc_timestamps parses them with an explicit rule.
            return pd.read_csv(path, dtype={ENTITY_TIMESTAMP: str, REQUEST_TIME: str})
        return pd.read_parquet(path)
    except (pa.ArrowException, ValueError, OSError) as error:
        raise InvalidInputError(f"cannot read {path}: {one_line(error)}") from error


def prepare(
    frame: pd.DataFrame,
    path: Path,
    needs: ServiceInputs,
    note: Callable[[str], None],
) -> pd.DataFrame:
    import pandas as pd

    if frame.empty:
        raise InvalidInputError(f"{path} has no rows")
    frame = frame.copy()
    for key in needs.join_keys:
        column = frame[key]
        if not pd.api.types.is_integer_dtype(column.dtype):
            hint = " (empty cells?)" if pd.api.types.is_float_dtype(column.dtype) else ""
            raise InvalidInputError(
                f"join key column {key} in {path} must hold integers, found {column.dtype}{hint}"
            )
        if column.isna().any():
            raise InvalidInputError(f"join key column {key} in {path} has empty values")
        frame[key] = column.astype("int64")

    naive: list[str] = []
    frame[ENTITY_TIMESTAMP] = utc_timestamps(frame[ENTITY_TIMESTAMP], path, naive)
    if REQUEST_TIME in needs.request_fields and REQUEST_TIME in frame.columns:
        frame[REQUEST_TIME] = utc_timestamps(frame[REQUEST_TIME], path, naive)
    if naive:
        columns = ", ".join(naive)
        note(f"note: the timestamps in {columns} of {path} have no time zone; read as UTC")

    if REQUEST_TIME in needs.request_fields and REQUEST_TIME not in frame.columns:
        # Request-time features mean "as of the entity row's time" in a training set.
        frame[REQUEST_TIME] = frame[ENTITY_TIMESTAMP]
    absent = [name for name in needs.request_fields if name not in frame.columns]
    if absent:
        raise InvalidInputError(
            f"{path} lacks the request data column(s) {', '.join(absent)} that on-demand "
            "features of this service need"
        )
    frame[ROW_NUMBER] = range(len(frame))
    return frame


def utc_timestamps(column: pd.Series[Any], path: Path, naive: list[str]) -> pd.Series[Any]:
    """Timestamps as UTC microseconds; zone-less values are UTC (their column goes to ``naive``)."""
    import pandas as pd

    name = str(column.name)
    if column.isna().any():
        raise InvalidInputError(
            f"column {name} in {path} has {int(column.isna().sum())} empty values"
        )
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        parsed = column.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(column.dtype):
        naive.append(name)
        parsed = column.dt.tz_localize("UTC")
    elif pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype):
        text = column.astype(str).str.strip()
        has_zone = text.str.contains(_OFFSET_AFTER_TIME, regex=True)
        if not has_zone.all():
            naive.append(name)
        # Each kind parsed on its own: given both at once, pandas reads a zone-less string
        # that follows "+02:00" as +02:00 too.
        parsed = pd.Series(pd.NaT, index=column.index, dtype="datetime64[ns, UTC]", name=name)
        try:
            parsed[has_zone] = pd.to_datetime(text[has_zone], utc=True, format="ISO8601")
            parsed[~has_zone] = pd.to_datetime(text[~has_zone], format="ISO8601").dt.tz_localize(
                "UTC"
            )
        except (ValueError, TypeError) as error:
            raise InvalidInputError(
                f"column {name} in {path} is not ISO 8601 date-times: "
                f"{one_line(error).split('. You might')[0]}"
            ) from error
    else:
        raise InvalidInputError(
            f"column {name} in {path} must hold timestamps, found {column.dtype}"
        )
    # Flooring never moves a row into a later snapshot (no look-ahead).
    return parsed.dt.floor("us").astype("datetime64[us, UTC]")
