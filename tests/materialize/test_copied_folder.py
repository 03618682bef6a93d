"""A copy of a data folder is a store of its own: applying it never touches the original.

Feast's file registry records the absolute path of every SQLite online table, and its apply
tears down the recorded table when the path changes: applied as it was copied, the copy dropped
every table of the original's online store.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from pitstop.cli import main
from pitstop.materialize import materialize
from pitstop.settings import Settings
from tests.materialize.conftest import ITEMS, USERS, Folder

ONLINE_ROWS = {"user_activity": USERS, "user_profile": USERS, "item_popularity": ITEMS}


def _entities_per_table(online_store: Path) -> dict[str, int]:
    with sqlite3.connect(online_store) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "select name from sqlite_master where type = 'table' "
                "and name like 'pitstop\\_\\_%' escape '\\' order by name"
            )
        ]
        counts = {
            name.removeprefix("pitstop__"): connection.execute(
                f'select count(*) from "{name}"'
            ).fetchone()[0]
            for name in tables
        }
    connection.close()
    return counts


def test_apply_on_a_copy_leaves_the_original_online_store_whole(
    folder: Folder, tmp_path: Path
) -> None:
    original = folder("original")
    assert main(["apply", "--data-dir", str(original.data_dir)]) == 0
    materialize(original)
    assert _entities_per_table(original.online_store_path) == ONLINE_ROWS

    copy = Settings.from_env(tmp_path / "copy")
    shutil.copytree(original.data_dir, copy.data_dir)
    assert main(["apply", "--data-dir", str(copy.data_dir)]) == 0

    assert _entities_per_table(original.online_store_path) == ONLINE_ROWS
    # The copy keeps its own copied store; its materializer writes there, in full (the copied
    # state describes the original's store), and the original is still untouched.
    assert _entities_per_table(copy.online_store_path) == ONLINE_ROWS
    assert materialize(copy).full
    assert _entities_per_table(original.online_store_path) == ONLINE_ROWS
    # The original still applies (its registry names its own store, as before).
    assert main(["apply", "--data-dir", str(original.data_dir)]) == 0
    assert _entities_per_table(original.online_store_path) == ONLINE_ROWS
