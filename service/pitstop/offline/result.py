"""Writing a training set: batch by batch from pitstop's offline store, or a pandas frame from
any other, into the same Parquet file (the entity file's rows, in its order and columns, then
the features; integer features nullable Int64; booleans, such as a label with gaps, pandas'
``boolean``, not objects; timestamps UTC, microseconds), never half
written."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstop.errors import InvalidInputError
from pitstop.feast_adapter import repo
from pitstop.feast_adapter.repo import ServiceInputs
from pitstop.offline.entity_file import ROW_NUMBER

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["restore_shape", "write_parquet", "write_streamed"]


def _file_schema(first: Any, needs: ServiceInputs) -> Any:
    """The Arrow types of the first batch (integer features int64, plain strings) with the
    pandas metadata the pandas path writes (so pandas reads Int64 columns back as Int64)."""
    import pyarrow as pa

    frame = first.to_pandas()
    for name in needs.integer_features:
        frame[name] = frame[name].astype("Int64")
    for column in first.schema:
        if pa.types.is_boolean(column.type):  # labels with gaps: pandas' boolean, not object
            frame[column.name] = frame[column.name].astype("boolean")
    metadata = pa.Schema.from_pandas(frame, preserve_index=False).metadata
    fields = []
    for column in first.schema:
        kind = column.type
        if column.name in needs.integer_features:
            kind = pa.int64()
        elif pa.types.is_string_view(kind) or pa.types.is_large_string(kind):
            kind = pa.string()
        fields.append(pa.field(column.name, kind))
    return pa.schema(fields, metadata=metadata)


def write_streamed(
    job: Any,
    out: Path,
    entity_columns: list[str],
    needs: ServiceInputs,
    extra: list[str] | None = None,
    advance: Callable[[int], None] | None = None,
) -> tuple[int, dict[str, int]]:
    """Write ``job``'s result batch by batch, in the columns and types of the pandas path
    (the schema, pandas metadata included, comes from the first batch as that path shapes it);
    returns the rows and the null count per feature. ``advance`` gets each batch's rows."""
    import pyarrow.parquet as pq

    out.parent.mkdir(parents=True, exist_ok=True)
    pending = out.with_name(f".{out.name}.{os.getpid()}.pending")
    columns = [*entity_columns, *needs.features, *(extra or [])]
    rows = 0
    nulls = dict.fromkeys(needs.features, 0)
    writer: pq.ParquetWriter | None = None

    def batches() -> Any:
        yield from job.iter_batches()

    try:
        iterator = batches()
        while True:
            table = repo.run_feast(lambda: next(iterator, None))
            if table is None:
                break
            table = table.select(columns)
            if writer is None:
                writer = pq.ParquetWriter(pending, _file_schema(table, needs))
            table = table.cast(writer.schema)
            for name in needs.features:
                nulls[name] += table.column(name).null_count
            writer.write_table(table)
            rows += table.num_rows
            if advance is not None:
                advance(table.num_rows)
        if writer is None:
            raise InvalidInputError("the retrieval returned no batches")
        writer.close()
        writer = None
        os.replace(pending, out)
    finally:
        if writer is not None:
            writer.close()
        pending.unlink(missing_ok=True)
    return rows, nulls


def restore_shape(
    result: pd.DataFrame, entity_columns: list[str], needs: ServiceInputs
) -> pd.DataFrame:
    """The entity file's rows in its order and columns, then the service's features;
    timestamps UTC in microseconds whatever the offline store returned."""
    import pandas as pd

    result = result.sort_values(ROW_NUMBER, kind="stable").reset_index(drop=True)
    for name in needs.integer_features:
        result[name] = result[name].astype("Int64")
    for name in result.columns:
        # True/False with gaps (a left-joined label) comes back as objects: pandas' boolean
        if result[name].dtype == object and pd.api.types.infer_dtype(result[name]) == "boolean":
            result[name] = result[name].astype("boolean")
    for name in result.columns:
        column = result[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            if getattr(column.dt, "tz", None) is None:
                # Feast's Spark store returns zone-less timestamps: UTC wall clock (pitstop
                # pins the Spark session to UTC, service/pitstop/build/spark_session.py).
                column = column.dt.tz_localize("UTC")
            result[name] = column.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    return result[[*entity_columns, *needs.features]]


def write_parquet(frame: pd.DataFrame, out: Path) -> None:
    """Write next to ``out`` first, then rename: a failed run leaves no half-written file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    pending = out.with_name(f".{out.name}.{os.getpid()}.pending")
    try:
        frame.to_parquet(pending, index=False)
        os.replace(pending, out)
    finally:
        pending.unlink(missing_ok=True)
