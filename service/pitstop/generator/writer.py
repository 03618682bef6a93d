"""Partition files of the raw event log, replaced as a whole.

A generated log is one data set: partitions are written to a staging folder next to the log and
swapped in only when every day is done, replacing every ``date=YYYY-MM-DD`` partition of the
previous log (other files in the folder are left alone). A failed or interrupted run leaves the
previous log as it was, and running twice never appends. With ``gzip`` the parts are
``part-NNNNN.jsonl.gz`` (gzip level 6, ``gzip``'s own default), the same lines compressed.
"""

from __future__ import annotations

import gzip
import shutil
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from pitstop.build.arrivals import partition_day
from pitstop.build.raw_files import GZIP_SUFFIX

# gzip's own default: most of level 9's size at a fraction of its time
GZIP_LEVEL = 6

# No part file holds more lines than this (about 70 MB); a larger day takes more parts. dbt's
# stg_events__lines holds a file whole in memory while it splits it (twice its size when the
# file has bytes that are not UTF-8, which it then splits in hex), one file per thread.
LINES_PER_PART = 500_000


class RawLogWriter:
    """Writes the partition of each day, then :meth:`commit` swaps them in for the old log.

    with RawLogWriter(settings.raw_events_dir) as writer:
        writer.write_lines(day, lines, order)  # as many times as the day needs
        writer.close_partition(day)
        files = writer.commit()
    """

    def __init__(self, raw_events_dir: Path, *, gzip: bool = False) -> None:
        self.raw_events_dir = raw_events_dir
        self.gzip = gzip
        self.staging_dir = raw_events_dir.parent / f".{raw_events_dir.name}.staging"
        self._written: list[Path] = []
        self._parts: dict[date, int] = {}

    def __enter__(self) -> RawLogWriter:
        shutil.rmtree(self.staging_dir, ignore_errors=True)
        self.staging_dir.mkdir(parents=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        shutil.rmtree(self.staging_dir, ignore_errors=True)

    def write_lines(
        self, arrival_day: date, lines: pa.ChunkedArray, order: npt.NDArray[np.int64]
    ) -> None:
        """Write ``lines[order]`` (each line ends in a newline) as the next parts of a day."""
        folder = self.staging_dir / f"date={arrival_day:%Y-%m-%d}"
        folder.mkdir(exist_ok=True)
        for first in range(0, len(order), LINES_PER_PART):
            rows = pa.array(order[first : first + LINES_PER_PART], type=pa.int64())
            with self._open(self._next_part(arrival_day)) as file:
                for chunk in lines.take(rows).chunks:
                    _write_text(file, chunk)

    def close_partition(self, arrival_day: date) -> None:
        """Finish a day. A day with no lines still gets an empty file: it arrived, empty."""
        if self._parts.get(arrival_day, 0) == 0:
            (self.staging_dir / f"date={arrival_day:%Y-%m-%d}").mkdir(exist_ok=True)
            self._open(self._next_part(arrival_day)).close()

    def _open(self, path: Path) -> BinaryIO:
        if self.gzip:  # (mtime 0: the same log gives the same bytes, as plain parts do)
            return gzip.GzipFile(path, "wb", compresslevel=GZIP_LEVEL, mtime=0)  # type: ignore[return-value]
        return path.open("wb")

    def _next_part(self, arrival_day: date) -> Path:
        part = self._parts.get(arrival_day, 0)
        self._parts[arrival_day] = part + 1
        suffix = ".jsonl" + (GZIP_SUFFIX if self.gzip else "")
        name = Path(f"date={arrival_day:%Y-%m-%d}") / f"part-{part:05d}{suffix}"
        self._written.append(name)
        return self.staging_dir / name

    def commit(self, *, append: bool = False) -> list[Path]:
        """Replace the old partitions with the new ones; return the files written.

        With ``append`` the old partitions stay and the new ones are added next to them (a
        partition that already exists is refused before anything moves).
        """
        self.raw_events_dir.mkdir(parents=True, exist_ok=True)
        if append:
            clashes = [
                p.name
                for p in self.staging_dir.iterdir()
                if (self.raw_events_dir / p.name).exists()
            ]
            if clashes:
                raise FileExistsError(f"partition already there: {', '.join(sorted(clashes))}")
        for old in sorted(self.raw_events_dir.iterdir()):
            if not append and old.is_dir() and partition_day(old.name) is not None:
                shutil.rmtree(old)
        for new in sorted(self.staging_dir.iterdir()):
            new.rename(self.raw_events_dir / new.name)
        return [self.raw_events_dir / path for path in self._written]


def _write_text(file: BinaryIO, strings: pa.Array) -> None:
    """Write an Arrow string array's characters as they are: one buffer, no copy per line."""
    if len(strings) == 0:
        return
    if strings.null_count:
        raise ValueError("a rendered line is missing")
    _, offsets, data = strings.buffers()
    bounds = np.frombuffer(
        offsets, dtype=np.int32, count=len(strings) + 1, offset=strings.offset * 4
    )
    file.write(memoryview(data)[int(bounds[0]) : int(bounds[-1])])
