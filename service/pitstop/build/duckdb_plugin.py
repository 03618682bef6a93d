"""The dbt-duckdb plugin that profiles.yml names: what the build's DuckDB connection needs that
DuckDB does not ship.

DuckDB 2.0 has no function that decompresses a BLOB: ``read_blob`` and ``read_text`` return a
``.gz`` file's compressed bytes, and the readers that decompress (``read_csv``, ``read_json``)
cannot hand back lines as they are (read_csv ends lines at a lone carriage return too, cuts
a line at its delimiter byte and refuses bytes that are not UTF-8, or with latin-1 the bytes
0x80-0x9F), and none that decodes UTF-16. So ``pitstop_raw_content(filename, content)``
decompresses a ``.gz`` raw file and re-encodes a UTF-16 one here, in Python, and the SQL that
splits lines sees exactly the UTF-8 bytes a plain file would give
(:func:`pitstop.build.raw_files.raw_content`; Spark's session registers the same function).
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from pitstop.build.raw_files import raw_content


class Plugin(BasePlugin):
    def configure_connection(self, conn: Any) -> None:
        # Cursors of this connection (dbt's threads) see functions registered on it.
        conn.create_function(
            "pitstop_raw_content", raw_content, ["VARCHAR", "BLOB"], "BLOB", side_effects=False
        )
