"""Published folders (``features/``, ``quarantine/``) switched in one step.

``<data>/features`` is a relative symbolic link to a version folder, ``.features.v<N>/``. A
build publishes by writing the next version folder (the tables it wrote, moved in; every other
file of the current version hard-linked, so an unchanged table costs nothing) and then renaming
a new link over the old one: one atomic rename. A reader that opens ``features/<table>`` gets
the old table or the new one, never half of either; one that resolves the link first
(:func:`current_version`) reads every table of one version, never some old and some new
(kill -9 during a publish left one table new and three old). The version before the current one
is kept, so such a reader can finish after the next publish; older ones are removed.

A data folder of the old layout (a real ``features/`` directory, or a copy made with the links
followed) is moved into ``.features.v0`` by its first publish: the one step that is not atomic.
The link is relative, so a copy of the data folder (``cp -a``) points at its own versions.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from pitstop.feature_tables import partition_key

__all__ = ["current_version", "publish"]

_KEPT = 2  # the current version and the one before it


def current_version(link: Path) -> Path | None:
    """The version folder ``link`` points at (the folder itself for the old layout), or None."""
    if link.is_symlink():
        return link.parent / os.readlink(link)
    return link if link.is_dir() else None


def publish(
    link: Path,
    files: Sequence[Path],
    before_swap: Callable[[Path], None] | None = None,
    *,
    merged: Collection[str] = (),
) -> list[Path]:
    """Make ``files`` (moved, not copied) and the other files of the current version the next
    version of ``link``, and switch ``link`` to it in one rename. ``before_swap`` may add to
    the new folder first (e.g. the coverage record). Returns the published paths under ``link``.

    A path of ``files`` may be a partitioned table's folder (:mod:`pitstop.feature_tables`): it
    replaces the current version's folder of that name, or, if its name is in ``merged`` (an
    export of the changed partitions only), replaces just the partitions it holds and keeps the
    others. A table folder that is not in ``files`` is kept whole (hard-linked file by file)."""
    current = _adopt_old_layout(link)
    number = _number(current) + 1 if current is not None else 1
    new = link.with_name(f".{link.name}.v{number}")
    shutil.rmtree(new, ignore_errors=True)  # a folder a killed publish left half made
    new.mkdir(parents=True)
    by_name = {path.name: path for path in files}
    if current is not None:
        for old in sorted(current.iterdir()):
            if old.name in by_name and not (old.is_dir() and old.name in merged):
                continue
            if old.suffix == ".parquet" and old.stem in by_name and by_name[old.stem].is_dir():
                continue  # the single file a table was before it was partitioned
            if old.is_file():
                _link_or_copy(old, new / old.name)
            elif old.is_dir():
                replaced = (
                    {partition_key(part.name) for part in by_name[old.name].iterdir()}
                    if old.name in by_name
                    else set()
                )
                (new / old.name).mkdir()
                for part in sorted(old.iterdir()):
                    if part.is_file() and partition_key(part.name) not in replaced:
                        _link_or_copy(part, new / old.name / part.name)
    for path in files:
        if path.is_dir() and (new / path.name).is_dir():
            for part in sorted(path.iterdir()):
                os.replace(part, new / path.name / part.name)
            path.rmdir()
        else:
            os.replace(path, new / path.name)
    if before_swap is not None:
        before_swap(new)
    swap = link.with_name(f".{link.name}.link")
    swap.unlink(missing_ok=True)
    swap.symlink_to(new.name)
    os.replace(swap, link)  # the one atomic step
    _remove_old_versions(link, number)
    return [link / path.name for path in files]


def _adopt_old_layout(link: Path) -> Path | None:
    if link.is_symlink():
        return current_version(link)
    if link.is_dir():
        adopted = link.with_name(f".{link.name}.v0")
        shutil.rmtree(adopted, ignore_errors=True)
        os.rename(link, adopted)
        return adopted
    return None


def _number(version: Path) -> int:
    match = re.fullmatch(r"\..+\.v(\d+)", version.name)
    return int(match.group(1)) if match else 0


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target)


def _remove_old_versions(link: Path, newest: int) -> None:
    for folder in link.parent.glob(f".{link.name}.v*"):
        number = _number(folder)
        if folder.is_dir() and not newest - _KEPT < number <= newest:
            shutil.rmtree(folder, ignore_errors=True)
