"""The raw event log's files on disk (docs/architecture.md §2): which names are raw files, and
their bytes.

A raw file is ``date=YYYY-MM-DD/<name>.jsonl`` or, gzip-compressed, ``<name>.jsonl.gz``; both
may sit in one partition. A compressed file means exactly what its decompressed bytes mean:
the same lines, numbers, quarantine and accounting as the plain file. Python code lists raw
files through :func:`raw_file_paths` and reads them through :func:`read_raw_bytes`. The name
patterns are declared once, ``vars.raw_file_patterns`` in ``transformations/dbt_project.yml``,
which dbt's source and macros read too; dbt reads a file's lines through :func:`raw_content`
(decompressed, UTF-16 re-encoded), registered on the
build's DuckDB connection by :mod:`pitstop.build.duckdb_plugin`.

**Decision.** A ``.jsonl.gz`` that does not decompress (truncated, or not gzip at all) fails
the build with a one-line error naming the file, and nothing is published. It is not
quarantined: quarantine keeps lines, and a broken file has no trustworthy lines (a truncated
stream yields a prefix of them, the rest unknown), so keeping what was readable would drop the
rest silently. A broken delivery is for the sender to repeat.
"""

from __future__ import annotations

import codecs
import gzip
import re
import zlib
from functools import cache
from pathlib import Path
from typing import BinaryIO

from pitstop.build.vocabulary import project_vars
from pitstop.errors import ConfigurationError
from pitstop.settings import DBT_PROJECT_DIR

__all__ = [
    "GZIP_SUFFIX",
    "RawFileError",
    "gunzip",
    "open_raw",
    "raw_file_paths",
    "raw_content",
    "raw_file_error_in",
    "raw_file_patterns",
    "read_raw_bytes",
]

GZIP_SUFFIX = ".gz"


class RawFileError(ValueError):
    """A raw file that cannot be read as what its name says."""


@cache
def raw_file_patterns() -> tuple[str, ...]:
    """The names of raw files in a partition (``vars.raw_file_patterns``), e.g. ``*.jsonl``."""
    declared = project_vars().get("raw_file_patterns")
    if not isinstance(declared, list) or not all(isinstance(p, str) for p in declared):
        raise ConfigurationError(
            f"{DBT_PROJECT_DIR / 'dbt_project.yml'}: vars.raw_file_patterns must list file name "
            f"patterns, got {declared!r}"
        )
    return tuple(declared)


def raw_file_paths(folder: Path) -> list[Path]:
    """The raw files directly in ``folder`` (an arrival partition), sorted by name."""
    return sorted({path for pattern in raw_file_patterns() for path in folder.glob(pattern)})


def gunzip(name: str, data: bytes) -> bytes:
    """The decompressed bytes of the gzip file ``name`` (all its members, as ``gzip -d`` does);
    :class:`RawFileError` naming the file when it is truncated or not gzip."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise RawFileError(
            f"raw file {name} is not a readable gzip file ({error}); deliver it again"
        ) from None


_UTF16_MARKS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _is_utf16(data: bytes) -> bool:
    """Whether ``data`` starts with a UTF-16 byte-order mark (what Windows tools write)."""
    return data.startswith(_UTF16_MARKS)


def raw_content(name: str, data: bytes) -> bytes:
    """The bytes whose lines a raw file holds, as UTF-8: ``data`` decompressed when ``name``
    ends in .gz, and a UTF-16 file (one that starts with its byte-order mark, as Windows tools
    write it) re-encoded as UTF-8. A UTF-16 file that does not decode is left as it is: its
    lines are then quarantined one by one, each with its reason (docs/architecture.md §2).
    Where lines end (a line feed, or a lone carriage return in a file without any line feed) is
    the SQL's rule, which splits the text."""
    if name.endswith(GZIP_SUFFIX):
        data = gunzip(name, data)
    if _is_utf16(data):
        try:
            return data.decode("utf-16").encode()
        except UnicodeError:
            return data
    return data


def open_raw(path: Path) -> BinaryIO:
    """A raw file opened for reading its lines' bytes (through gzip when its name ends in .gz)."""
    if path.name.endswith(GZIP_SUFFIX):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def read_raw_bytes(path: Path) -> bytes:
    """A raw file's content as its lines are read (:func:`raw_content` of the file)."""
    return raw_content(str(path), path.read_bytes())


def raw_file_error_in(message: str) -> str | None:
    """The one-line :class:`RawFileError` inside an engine's error message, if there is one
    (DuckDB and Spark wrap a Python function's error in their own text and tracebacks)."""
    match = re.search(r"raw file .*? deliver it again", message)
    return match.group(0) if match else None
