"""The dbt-duckdb plugin that profiles.yml names: what the build's DuckDB connection needs that
DuckDB does not ship.

DuckDB 2.0 has no function that decompresses a BLOB: ``read_blob`` and ``read_text`` return a
``.gz`` file's compressed bytes, and the readers that decompress (``read_csv``, ``read_json``)
cannot hand back lines as they are (read_csv ends lines at a lone carriage return too, cuts
a line at its delimiter byte and refuses bytes that are not UTF-8, or with latin-1 the bytes
0x80-0x9F). So ``pitstop_gunzip(filename, content)`` decompresses one raw file here, with
Python's gzip, and the SQL that splits lines sees exactly the bytes a plain file would give
(:mod:`pitstop.build.raw_files`).
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from pitstop.build.raw_files import gunzip


class Plugin(BasePlugin):
    def configure_connection(self, conn: Any) -> None:
        # Cursors of this connection (dbt's threads) see functions registered on it.
        conn.create_function(
            "pitstop_gunzip", gunzip, ["VARCHAR", "BLOB"], "BLOB", side_effects=False
        )
