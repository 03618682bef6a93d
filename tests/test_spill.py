"""pitstop.spill: DuckDB's spill files in a folder of their own, gone when the work ends.

A training set over a huge range spilled 34 GB into `.tmp` of the working directory and left
it there when killed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pitstop import spill


def test_spill_files_go_to_a_folder_of_their_own_and_leave_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "tmp"
    with spill.connect(root, memory_limit="24MB") as connection:
        (folder,) = connection.execute("SELECT current_setting('temp_directory')").fetchone()
        assert Path(folder).parent == root
        # more than the memory limit: DuckDB writes blocks of it to its temporary files
        connection.execute("CREATE TABLE t AS SELECT range AS n, random() AS r FROM range(4000000)")
        files = connection.execute("SELECT path FROM duckdb_temporary_files()").fetchall()
        assert files and all(Path(path).parent == Path(folder) for (path,) in files)
        assert Path(folder).is_dir()
    assert not Path(folder).exists()
    assert not (tmp_path / ".tmp").exists()  # DuckDB's default, the working directory


def test_a_killed_process_leaves_spill_files_the_next_one_removes(tmp_path: Path) -> None:
    root = tmp_path / "tmp"
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys\n"
            "from pathlib import Path\n"
            "from pitstop import spill\n"
            f"with spill.connect(Path({str(root)!r}), memory_limit='24MB') as c:\n"
            "    c.execute('CREATE TABLE t AS SELECT range AS n, random() AS r '\n"
            "              'FROM range(4000000)')\n"
            "    os._exit(9)  # killed: no close, no clean-up\n",
        ],
        check=False,
    )
    assert child.returncode == 9
    (orphan,) = root.glob("pitstop-spill-*")
    assert any(orphan.iterdir())
    mine = root / f"pitstop-spill-{os.getpid()}-999"  # a running process's: kept
    mine.mkdir()
    with spill.connect(root):
        assert not orphan.exists()
        assert mine.exists()
