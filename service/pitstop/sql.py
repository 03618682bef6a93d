"""Quoting for the SQL pitstop writes itself (DuckDB and SQLite share these rules): a name as
an identifier, a text (a path, a value) as a string literal. One home, so no query builds
either by hand."""

from __future__ import annotations

from os import PathLike

__all__ = ["identifier", "literal"]


def identifier(name: str) -> str:
    """``name`` as a quoted identifier, its double quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str | PathLike[str]) -> str:
    """``text`` as a string literal, its single quotes doubled."""
    return "'" + str(text).replace("'", "''") + "'"
