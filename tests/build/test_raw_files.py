"""Raw files compressed with gzip (``*.jsonl.gz``): the same lines, quarantine, counts and
tables as the plain files, and a broken one named in a one-line error."""

from __future__ import annotations

import codecs
import gzip
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from pitstop.build.raw_files import raw_file_paths, read_raw_bytes
from pitstop.build.run import BuildReport, build
from pitstop.errors import BuildError
from pitstop.settings import Settings
from tests import trap_log
from tests.conftest import write_raw_logs, write_trap_log

# Stays plain, beside an empty .jsonl.gz: a partition of both kinds.
_KEPT_PLAIN = "date=2026-03-01/part-00000.jsonl"


@pytest.fixture(scope="session")
def gzip_trap_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, BuildReport]:
    """tests/trap_log.py's log with every file but one gzip-compressed (the file that is not
    UTF-8 too), plus an empty .jsonl.gz, built once."""
    data_dir = tmp_path_factory.mktemp("gzip-traps")
    write_trap_log(data_dir)
    raw = data_dir / "raw" / "events"
    for path in sorted(raw.glob("date=*/*.jsonl")):
        if path.relative_to(raw).as_posix() != _KEPT_PLAIN:
            path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
            path.unlink()
    (raw / "date=2026-03-01" / "part-00001.jsonl.gz").write_bytes(gzip.compress(b""))
    # the plain build's horizon (tests/conftest.py: trap_build), so both keep every line
    settings = replace(Settings.from_env(data_dir), warehouse_horizon_days=365)
    return settings, build(settings, echo=None)


def _rows(path: Path, root: Path) -> list[tuple[Any, ...]]:
    """A table's rows, sorted, with file paths made relative and .jsonl.gz read as .jsonl."""

    def cell(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(str(root)):
            return value[len(str(root)) :].removesuffix(".gz")
        return value

    table = pq.read_table(path)
    table = table.drop_columns([c for c in table.column_names if c == "created_timestamp"])
    return sorted((tuple(cell(v) for v in row.values()) for row in table.to_pylist()), key=repr)


def test_a_gzip_log_builds_the_plain_logs_tables_and_counts(
    trap_build: tuple[Settings, BuildReport], gzip_trap_build: tuple[Settings, BuildReport]
) -> None:
    (plain, plain_report), (zipped, zipped_report) = trap_build, gzip_trap_build
    assert any(p.name.endswith(".jsonl.gz") for p in zipped.raw_events_dir.glob("date=*/*"))
    assert zipped_report.counts == plain_report.counts
    assert zipped_report.tables == plain_report.tables
    for folder in ("features", "quarantine"):
        tables = (plain.data_dir / folder).iterdir()  # feature tables are folders of partitions
        names = sorted(p.name for p in tables if p.is_dir() or p.suffix == ".parquet")
        assert names
        for name in names:
            assert _rows(zipped.data_dir / folder / name, zipped.data_dir) == _rows(
                plain.data_dir / folder / name, plain.data_dir
            ), f"{folder}/{name}"


def test_a_gzip_log_has_the_plain_logs_staged_lines(
    trap_build: tuple[Settings, BuildReport], gzip_trap_build: tuple[Settings, BuildReport]
) -> None:
    query = (
        "select * exclude (file_path), replace(file_path, ?, '') as file "
        "from stg_events__lines order by file, line_number"
    )
    staged = []
    for settings, _ in (trap_build, gzip_trap_build):
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
            rows = connection.execute(query, [str(settings.raw_events_dir)]).fetchall()
        staged.append([(*row[:-1], row[-1].removesuffix(".gz")) for row in rows])
    assert staged[0] == staged[1]
    assert len(staged[0]) == trap_build[1].counts.raw_lines


def test_raw_files_of_a_partition_are_both_kinds(
    gzip_trap_build: tuple[Settings, BuildReport],
) -> None:
    settings, _ = gzip_trap_build
    folder = settings.raw_events_dir / "date=2026-03-01"
    names = [path.name for path in raw_file_paths(folder)]
    assert names == ["part-00000.jsonl", "part-00001.jsonl.gz"]
    assert read_raw_bytes(folder / names[1]) == b""
    not_utf8 = settings.raw_events_dir / "date=2026-03-06" / "part-00001.jsonl.gz"
    assert read_raw_bytes(not_utf8) == trap_log.NOT_UTF8_FILE


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: b"these bytes are not gzip\n", id="not-gzip"),
    ],
)
def test_a_broken_gzip_file_fails_the_build_naming_it(tmp_path: Path, broken: Any) -> None:
    line = '{"event_id": "e%d", "event_type": "login", "user_id": 1, "ts": "2026-03-01T10:00:00Z"}'
    write_raw_logs(tmp_path, {"2026-03-01": [line % 1]})
    folder = tmp_path / "raw" / "events" / "date=2026-03-01"
    data = gzip.compress("".join(line % n + "\n" for n in range(2, 2000)).encode())
    (folder / "part-00001.jsonl.gz").write_bytes(broken(data))
    settings = Settings.from_env(tmp_path)
    with pytest.raises(BuildError) as failure:
        build(settings, echo=None)
    message = str(failure.value)
    assert message.startswith(
        f"dbt build failed: raw file {folder / 'part-00001.jsonl.gz'} is not a readable gzip file"
    )
    assert "\n" not in message
    assert not (settings.features_dir / "user_activity").exists()


def test_a_byte_order_mark_starts_no_line(tmp_path: Path) -> None:
    """A file written by a spreadsheet or a Windows tool starts with U+FEFF; its first line was
    quarantined as malformed_json. The mark is dropped, plain and gzip-compressed alike; a mark
    inside a line is the line's own (quarantined)."""
    line = '{"event_id": "e%d", "event_type": "login", "user_id": 1, "ts": "2026-03-01T10:00:00Z"}'
    write_raw_logs(tmp_path, {"2026-03-01": [line % 1, line % 2]})
    folder = tmp_path / "raw" / "events" / "date=2026-03-01"
    plain = folder / "part-00000.jsonl"
    plain.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    compressed = ("\ufeff" + line % 3 + "\n\ufeff" + line % 4 + "\n").encode()
    (folder / "part-00001.jsonl.gz").write_bytes(gzip.compress(compressed))
    report = build(Settings.from_env(tmp_path), echo=None)
    counts = report.counts
    assert (counts.raw_lines, counts.clean_events, counts.quarantined_lines) == (4, 3, 1)
    assert counts.reasons == {"malformed_json": 1}
    warehouse = Settings.from_env(tmp_path).warehouse_path
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        kept = connection.execute("select event_id from stg_events__events order by 1").fetchall()
    assert kept == [("e1",), ("e2",), ("e3",)]


def test_utf16_and_carriage_return_files_give_their_lines(tmp_path: Path) -> None:
    """CR-only line endings made five events one line (malformed_json) and a UTF-16 file was
    quarantined whole. A UTF-16 file (little or big endian, after its byte-order mark) reads as
    its UTF-8 text; a file without a line feed ends its lines at its carriage returns; CRLF
    lines are lines; a UTF-16 file that does not decode is quarantined line by line."""
    line = '{"event_id": "e%d", "event_type": "login", "user_id": 1, "ts": "2026-03-01T10:00:00Z"}'
    write_raw_logs(tmp_path, {"2026-03-01": [line % 1]})
    folder = tmp_path / "raw" / "events" / "date=2026-03-01"
    (folder / "part-00001.jsonl").write_bytes(f"{line % 2}\r{line % 3}\r{line % 4}".encode())
    (folder / "part-00002.jsonl").write_bytes(f"{line % 5}\r\n{line % 6}\r\n".encode())
    utf16 = codecs.BOM_UTF16_LE + f"{line % 7}\n{line % 8}\n".encode("utf-16-le")
    (folder / "part-00003.jsonl").write_bytes(utf16)
    big_endian_cr = codecs.BOM_UTF16_BE + f"{line % 9}\r{line % 10}\r".encode("utf-16-be")
    (folder / "part-00004.jsonl.gz").write_bytes(gzip.compress(big_endian_cr))
    # an odd byte at the end: not UTF-16, read as bytes (0A splits, the first line not UTF-8)
    (folder / "part-00005.jsonl").write_bytes(
        codecs.BOM_UTF16_LE + f"{line % 11}\n".encode("utf-16-le") + b"A"
    )
    settings = Settings.from_env(tmp_path)
    counts = build(settings, echo=None).counts
    assert (counts.raw_lines, counts.clean_events, counts.quarantined_lines) == (12, 10, 2)
    assert counts.reasons == {"invalid_utf8": 1, "malformed_json": 1}
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        kept = connection.execute(
            "select regexp_extract(file_path, 'part-\\d+', 0), line_number, event_id "
            "from stg_events__lines where rejection_reason is null order by 1, 2"
        ).fetchall()
    files = ["part-00000"] + ["part-00001"] * 3 + ["part-00002"] * 2
    files += ["part-00003"] * 2 + ["part-00004"] * 2
    numbers = [1, 1, 2, 3, 1, 2, 1, 2, 1, 2]
    assert kept == [(f, n, f"e{e}") for f, n, e in zip(files, numbers, range(1, 11), strict=True)]


def test_a_directory_named_like_a_raw_file_fails_the_build_naming_it(tmp_path: Path) -> None:
    """It was neither read nor counted: the lines of the files inside were lost silently."""
    line = '{"event_id": "e%d", "event_type": "login", "user_id": 1, "ts": "2026-03-01T10:00:00Z"}'
    write_raw_logs(tmp_path, {"2026-03-01": [line % 1]})
    folder = tmp_path / "raw" / "events" / "date=2026-03-01"
    nested = folder / "part-00001.jsonl"
    nested.mkdir()
    (nested / "part-00000.jsonl").write_text(line % 2 + "\n")
    settings = Settings.from_env(tmp_path)
    with pytest.raises(BuildError) as failure:
        build(settings, echo=None)
    assert str(failure.value) == (
        f"raw file {nested} is a directory, not a file; move its files into {folder} "
        "(or rename it), then build again"
    )
    assert not settings.features_dir.exists() or not any(settings.features_dir.iterdir())
