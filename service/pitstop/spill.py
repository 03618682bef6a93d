"""DuckDB connections with their spill files in a folder of their own (docs/architecture.md §6,
"Spill files").

An in-memory DuckDB connection spills what exceeds its memory limit to ``.tmp`` in the working
directory by default: the user's folder, and files a killed process leaves behind (a training
set over a huge range wrote 34 GB there before it was killed). Every connection pitstop opens
for a job spills instead into ``<root>/pitstop-spill-<pid>-<n>`` (``root``: the data folder's
``tmp/`` where a command knows it, else the system's temporary folder), removed when the
connection closes; folders of processes that are gone are removed when the next one opens.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pitstop import sql

if TYPE_CHECKING:
    import duckdb

__all__ = ["connect", "spill_root"]

_PREFIX = "pitstop-spill-"
_NAME = re.compile(rf"{_PREFIX}(\d+)-\d+")
_numbers = itertools.count()


def spill_root(root: Path | None) -> Path:
    """Where spill folders go: ``root``, or the system's temporary folder."""
    return root if root is not None else Path(tempfile.gettempdir())


@contextmanager
def connect(
    root: Path | None = None, *, memory_limit: str | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection in UTC whose spill files go to a folder of its own under
    ``root`` (see the module), removed with them when it closes."""
    parent = spill_root(root)
    parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(parent)
    import duckdb  # here: importing pitstop.spill costs no DuckDB start-up

    folder = parent / f"{_PREFIX}{os.getpid()}-{next(_numbers)}"
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute(f"SET temp_directory = {sql.literal(folder)}")
        if memory_limit is not None:
            connection.execute(f"SET memory_limit = {sql.literal(memory_limit)}")
        yield connection
    finally:
        connection.close()
        shutil.rmtree(folder, ignore_errors=True)


def _remove_orphans(parent: Path) -> None:
    """Remove the spill folders of processes that no longer run."""
    for folder in parent.glob(f"{_PREFIX}*"):
        match = _NAME.fullmatch(folder.name)
        if match and not _running(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True
