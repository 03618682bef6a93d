"""The Spark build's file handling, without Spark: part-file folders become one Parquet file
(the quarantine) or a feature table's partitions by snapshot date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pitstop import feature_tables
from pitstop.build.spark import merge_part_folders, partition_part_folders
from pitstop.errors import BuildError


def _part(
    folder: Path,
    name: str,
    ids: list[int],
    moment: dt.datetime = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc),
) -> None:
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


def test_spark_feature_tables_become_partitions_by_snapshot_date(tmp_path: Path) -> None:
    """Spark writes a mart whole as part files; the publish takes the feature table layout
    (pitstop.feature_tables): one file per snapshot date, and the schema file."""
    folder = tmp_path / "user_activity.parquet"
    folder.mkdir()
    day = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    _part(folder, "part-00000-a.snappy.parquet", [1, 2], day)
    _part(folder, "part-00001-a.snappy.parquet", [3], day + dt.timedelta(days=2))
    (folder / "_SUCCESS").write_text("")

    partition_part_folders(tmp_path)

    table = tmp_path / "user_activity"
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "user_activity",
        "user_activity.schema.parquet",
    ]
    staged, full = feature_tables.stage(table, tmp_path / "user_activity.schema.parquet")
    assert full
    files = sorted(staged.iterdir())
    assert [feature_tables.partition_date(file) for file in files] == [
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 3),
        None,  # the schema file
    ]
    assert files[-1].name == feature_tables.SCHEMA_FILE
    assert pq.read_table(files[1]).column("user_id").to_pylist() == [3]
    assert pq.read_table(table).schema == pq.read_schema(table / "_schema.parquet")
