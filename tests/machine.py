"""A small file system of its own for tests of what the machine refuses: a full disk, a
read-only folder. A tmpfs mounted for the test (this machine's tests run as root, whom file
modes do not stop; a mount's size and read-only flag stop everyone)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def tmpfs(folder: Path, *, size_bytes: int) -> Iterator[Path]:
    """``folder`` as a tmpfs of ``size_bytes``, unmounted afterwards. Fails loudly where
    mounting is not allowed (the tests need root, as `.ci/run` has)."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(folder)],
        check=True,
        capture_output=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def read_only(folder: Path) -> None:
    """Make the tmpfs at ``folder`` read-only (a remount)."""
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, capture_output=True)


def copy_into(source: Path, target: Path) -> Path:
    """``source``'s files copied into ``target`` (an existing folder, e.g. a mount point),
    links kept as links (a data folder's ``features`` links to its current version)."""
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    return target


def folder_bytes(folder: Path) -> int:
    """The bytes of the files under ``folder``."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
