"""The Spark build's file handling, without Spark: part-file folders become one Parquet file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pitstop.build.spark import merge_part_folders
from pitstop.errors import BuildError


def _part(folder: Path, name: str, ids: list[int]) -> None:
    moment = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    table = pa.table(
        {
            "user_id": pa.array(ids, pa.int64()),
            "event_timestamp": pa.array([moment] * len(ids), pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, folder / name, row_group_size=2)


def test_part_folders_become_one_file_with_every_row(tmp_path: Path) -> None:
    folder = tmp_path / "user_activity.parquet"
    folder.mkdir()
    _part(folder, "part-00000-a.snappy.parquet", [1, 2, 3])
    _part(folder, "part-00001-a.snappy.parquet", [])
    _part(folder, "part-00002-a.snappy.parquet", [4, 5])
    (folder / "_SUCCESS").write_text("")
    (tmp_path / "churn_labels.parquet").write_bytes(b"")  # a file is left alone

    merge_part_folders(tmp_path)

    assert folder.is_file()
    table = pq.read_table(folder)
    assert table.column("user_id").to_pylist() == [1, 2, 3, 4, 5]
    assert table.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "churn_labels.parquet",
        "user_activity.parquet",
    ]


def test_a_folder_without_part_files_is_a_build_error(tmp_path: Path) -> None:
    (tmp_path / "user_profile.parquet").mkdir()
    with pytest.raises(BuildError, match="no Parquet part files"):
        merge_part_folders(tmp_path)
