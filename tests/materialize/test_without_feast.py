"""`pitstop materialize` runs without `import feast`, into tables Feast reads as its own.

A deleted online store file is recreated by pitstop itself, with the tables of Feast's SQLite
store (columns, keys and indexes compared here with the tables `feast apply` made), and the
whole command, as a user runs it, never imports Feast.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from pitstop.online.registry import open_registry
from pitstop.online.sqlite_store import SqliteStore
from pitstop.settings import Settings
from tests.materialize.conftest import Folder


def _schema(path: Path) -> dict[str, object]:
    """Each table's columns (name, type, not null, default, key position) and its indexes'
    columns and uniqueness: what Feast's reads and writes depend on, not the statement text."""
    with sqlite3.connect(path) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "select name from sqlite_master where type = 'table' and name like 'pitstop_%'"
            )
        ]
        schema: dict[str, object] = {}
        for table in sorted(tables):
            columns = connection.execute(f"pragma table_info('{table}')").fetchall()
            indexes = {
                name: (unique, connection.execute(f"pragma index_info('{name}')").fetchall())
                for _, name, unique, *_ in connection.execute(f"pragma index_list('{table}')")
            }
            schema[table] = (columns, sorted(indexes.items()))
    return schema


def test_pitstop_creates_the_tables_feast_creates(
    applied_template: Settings, tmp_path: Path
) -> None:
    project, registry = open_registry(applied_template)
    snapshot = registry.read()
    store = SqliteStore(tmp_path / "online_store.db", project)
    try:
        store.create_tables([view for view in snapshot.views.values() if view.online])
    finally:
        store.close()
    feasts = _schema(applied_template.online_store_path)  # made by `feast apply`
    assert len(feasts) >= 2  # the online views' tables
    assert _schema(tmp_path / "online_store.db") == feasts


def test_the_command_does_not_import_feast(folder: Folder) -> None:
    settings = folder("no-feast")
    settings.online_store_path.unlink()
    check = (
        "import sys\n"
        "from pitstop.cli import main\n"
        f"code = main(['materialize', '--data-dir', {str(settings.data_dir)!r}])\n"
        "assert 'feast' not in sys.modules, 'materialize imported feast'\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, **settings.environment()}
    result = subprocess.run(
        [sys.executable, "-c", check], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "entities written" in result.stdout
    with sqlite3.connect(settings.online_store_path) as connection:
        [(rows,)] = connection.execute("select count(*) from pitstop__user_profile").fetchall()
    assert rows > 0
