"""The entity file of a training set: its rules, checked before the heavy work.

Parquet or CSV (UTF-8, a byte-order mark allowed) with the feature service's join keys
(integers) and ``event_timestamp``; every other column passes through. A zone-less timestamp
is UTC (said once, through ``note``); CSV strings are parsed as UTC unless they carry an offset;
sub-microsecond parts are floored. ``request_time`` defaults to the row's ``event_timestamp``.

The rows are checked as Arrow columns, never as a pandas frame of the whole file: a Parquet
file is read by pyarrow; a CSV is parsed by pandas' reader (its type inference), then Arrow
too. Only text timestamps go through pandas, one column at a time.
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
    import pyarrow as pa

__all__ = ["ENTITY_TIMESTAMP", "ROW_NUMBER", "check_key_types", "columns", "prepare", "read"]

ENTITY_TIMESTAMP = "event_timestamp"
SUFFIXES = (".parquet", ".csv")
# UTF-8, with or without the byte-order mark spreadsheet programs write.
CSV_ENCODING = "utf-8-sig"
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
        try:
            with path.open(newline="", encoding=CSV_ENCODING) as handle:
                first = next(csv.reader(handle), None)
        except (UnicodeDecodeError, csv.Error) as error:
            raise InvalidInputError(
                f"{path} is not a UTF-8 CSV file ({one_line(error)}); save it as UTF-8"
            ) from error
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


def read(path: Path) -> pa.Table:
    """The entity rows as Arrow: a Parquet file as stored (an index pandas wrote is dropped, as
    pandas would make it the index); a CSV parsed by pandas' reader, whose type inference the
    messages below name (timestamps stay text: :func:`utc_timestamps` parses them)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if path.suffix.lower() == ".csv":
            frame = pd.read_csv(
                path, dtype={ENTITY_TIMESTAMP: str, REQUEST_TIME: str}, encoding=CSV_ENCODING
            )
            return pa.Table.from_pandas(frame, preserve_index=False)
        table = pq.read_table(path)
    except (pa.ArrowException, ValueError, OSError) as error:
        raise InvalidInputError(f"cannot read {path}: {one_line(error)}") from error
    index = (table.schema.pandas_metadata or {}).get("index_columns", [])
    return table.drop_columns([name for name in index if isinstance(name, str)])


def prepare(
    table: pa.Table,
    path: Path,
    needs: ServiceInputs,
    note: Callable[[str], None],
) -> pa.Table:
    """The entity rows checked and made ready for the join, in Arrow (no pandas frame of the
    whole file): integer keys as int64, timestamps UTC microseconds, ``request_time`` filled
    in, and :data:`ROW_NUMBER` appended."""
    import numpy as np
    import pyarrow as pa

    if table.num_rows == 0:
        raise InvalidInputError(f"{path} has no rows")
    for key in needs.join_keys:
        column = table.column(key)
        if not pa.types.is_integer(column.type):
            hint = " (empty cells?)" if pa.types.is_floating(column.type) else ""
            raise InvalidInputError(
                f"join key column {key} in {path} must hold integers, "
                f"found {_dtype_name(column.type)}{hint}"
            )
        if column.null_count:
            raise InvalidInputError(f"join key column {key} in {path} has empty values")
        try:
            table = _replace(table, key, column.cast(pa.int64()))
        except pa.ArrowInvalid as error:  # an unsigned key past int64
            raise InvalidInputError(
                f"join key column {key} in {path} does not fit 64-bit integers: {one_line(error)}"
            ) from error

    naive: list[str] = []
    table = _replace(
        table,
        ENTITY_TIMESTAMP,
        utc_timestamps(table.column(ENTITY_TIMESTAMP), ENTITY_TIMESTAMP, path, naive),
    )
    if REQUEST_TIME in needs.request_fields and REQUEST_TIME in table.column_names:
        table = _replace(
            table,
            REQUEST_TIME,
            utc_timestamps(table.column(REQUEST_TIME), REQUEST_TIME, path, naive),
        )
    if naive:
        columns = ", ".join(naive)
        note(f"note: the timestamps in {columns} of {path} have no time zone; read as UTC")

    if REQUEST_TIME in needs.request_fields and REQUEST_TIME not in table.column_names:
        # Request-time features mean "as of the entity row's time" in a training set.
        table = table.append_column(REQUEST_TIME, table.column(ENTITY_TIMESTAMP))
    absent = [name for name in needs.request_fields if name not in table.column_names]
    if absent:
        raise InvalidInputError(
            f"{path} lacks the request data column(s) {', '.join(absent)} that on-demand "
            "features of this service need"
        )
    return table.append_column(ROW_NUMBER, pa.array(np.arange(table.num_rows, dtype=np.int64)))


def utc_timestamps(
    column: pa.ChunkedArray, name: str, path: Path, naive: list[str]
) -> pa.ChunkedArray:
    """Timestamps as UTC microseconds; zone-less values are UTC (their column goes to ``naive``).
    Arrow timestamps and dates stay in Arrow; text is parsed by :func:`_parse_text`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.null_count:
        raise InvalidInputError(f"column {name} in {path} has {column.null_count} empty values")
    kind = column.type
    if pa.types.is_date(kind):
        column, kind = column.cast(pa.timestamp("us")), pa.timestamp("us")
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            naive.append(name)
        # Arrow keeps UTC instants: a zone-less value is taken as UTC, an aware one converts.
        column = column.cast(pa.timestamp(kind.unit, tz="UTC"))
        if kind.unit == "ns":
            # Flooring never moves a row into a later snapshot (no look-ahead).
            column = pc.floor_temporal(column, unit="microsecond")
        return column.cast(pa.timestamp("us", tz="UTC"))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        parsed = _parse_text(column.to_pandas(), name, path, naive)
        return pa.chunked_array([pa.array(parsed, type=pa.timestamp("us", tz="UTC"))])
    raise InvalidInputError(
        f"column {name} in {path} must hold timestamps, found {_dtype_name(kind)}"
    )


def _parse_text(column: pd.Series[Any], name: str, path: Path, naive: list[str]) -> pd.Series[Any]:
    """ISO 8601 text as UTC microseconds: a string naming its zone converts, others are UTC."""
    import pandas as pd

    text = column.astype(str).str.strip()
    has_zone = text.str.contains(_OFFSET_AFTER_TIME, regex=True)
    if not has_zone.all():
        naive.append(name)
    # Each kind parsed on its own: given both at once, pandas reads a zone-less string
    # that follows "+02:00" as +02:00 too.
    parsed = pd.Series(pd.NaT, index=column.index, dtype="datetime64[ns, UTC]", name=name)
    try:
        parsed[has_zone] = pd.to_datetime(text[has_zone], utc=True, format="ISO8601")
        parsed[~has_zone] = pd.to_datetime(text[~has_zone], format="ISO8601").dt.tz_localize("UTC")
    except (ValueError, TypeError) as error:
        raise InvalidInputError(
            f"column {name} in {path} is not ISO 8601 date-times: "
            f"{one_line(error).split('. You might')[0]}"
        ) from error
    # Flooring never moves a row into a later snapshot (no look-ahead).
    return parsed.dt.floor("us").astype("datetime64[us, UTC]")


def _replace(table: pa.Table, name: str, column: pa.ChunkedArray) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, column)


def _dtype_name(kind: pa.DataType) -> str:
    """The type as pandas names it (float64, object...), the words these messages always used."""
    import pandas as pd

    try:
        return str(pd.api.types.pandas_dtype(kind.to_pandas_dtype()))
    except (NotImplementedError, TypeError):
        return str(kind)
