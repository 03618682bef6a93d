"""Publishing switches every table of a folder at once (pitstop.build.versions).

kill -9 during the publish step left `features/` mixed: one table new, three old. These tests
publish real Parquet files: readers during publishes, a process killed at random moments of
its publishes, the old layout adopted, and a copy of the data folder independent of the
original.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pitstop import feature_tables
from pitstop.build import versions
from pitstop.build.run import build
from pitstop.settings import Settings
from tests.conftest import write_trap_log

TABLES = ("user_activity", "user_profile", "item_popularity", "churn_labels")


def _write_version(folder: Path, number: int, rows: int = 20_000) -> list[Path]:
    """One table file per name, each holding ``number`` in every row."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in TABLES:
        path = folder / f"{name}.parquet"
        pq.write_table(pa.table({"version": [number] * rows}), path)
        paths.append(path)
    return paths


def _versions_seen(folder: Path) -> set[int]:
    return {
        int(pq.read_table(folder / f"{name}.parquet").column("version")[0].as_py())
        for name in TABLES
    }


def _reads_during(publish_all: Callable[[], None], read_once: Callable[[], bool]) -> int:
    """``read_once`` in a loop on a second thread while ``publish_all`` runs: the number of
    reads that counted (``read_once`` returns False for one that starts again). A read's first
    error is raised in the test's thread."""
    failures: list[BaseException] = []
    reads = 0
    done = threading.Event()

    def loop() -> None:
        nonlocal reads
        while not done.is_set():
            try:
                reads += read_once()
            except BaseException as error:  # noqa: BLE001 - raised below, in the test's thread
                failures.append(error)
                return

    reader = threading.Thread(target=loop)
    reader.start()
    try:
        publish_all()
    finally:
        done.set()
        reader.join()
    if failures:
        raise failures[0]
    return reads


def test_a_reader_sees_one_version_of_every_table_during_publishes(tmp_path: Path) -> None:
    link = tmp_path / "features"
    versions.publish(link, _write_version(tmp_path / "pending", 0))

    def read_once() -> bool:
        version = versions.current_version(link)
        assert version is not None
        try:
            seen = _versions_seen(version)
        except FileNotFoundError:
            # allowed only for a version two publishes old (the one before the current is
            # kept): a reader slower than two publishes starts again
            current = versions.current_version(link)
            assert current is not None
            age = int(current.name.rsplit("v", 1)[1]) - int(version.name.rsplit("v", 1)[1])
            assert age >= 2, f"{version} vanished too early"
            return False
        pq.read_table(link / "user_activity.parquet")  # through the link: whole
        assert len(seen) == 1, f"one read saw versions {seen}"
        return True

    def publish_all() -> None:
        for number in range(1, 40):
            versions.publish(link, _write_version(tmp_path / "pending", number))
            time.sleep(0.01)

    assert _reads_during(publish_all, read_once) > 20
    assert _versions_seen(link) == {39}
    # the current version and the one before it are kept, no more
    kept = sorted(path.name for path in tmp_path.glob(".features.v*"))
    assert kept == [".features.v39", ".features.v40"]


_PUBLISHER = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from pitstop import feature_tables
from pitstop.build import versions
from tests.build.test_versions import _write_version
folder = Path({folder!r})
number = int(sys.argv[1])
while True:
    number += 1
    versions.publish(folder / "features", _write_version(folder / "pending", number))
    print(number, flush=True)
"""


def test_a_publish_killed_at_any_moment_leaves_one_whole_version(tmp_path: Path) -> None:
    link = tmp_path / "features"
    versions.publish(link, _write_version(tmp_path / "pending", 0))
    root = str(Path(__file__).resolve().parents[2])
    script = _PUBLISHER.format(root=root, folder=str(tmp_path))
    rng = random.Random(19)
    number = 0
    for _ in range(8):
        child = subprocess.Popen(
            [sys.executable, "-c", script, str(number)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        child.stdout.readline()  # it has published at least once: the kill lands mid-loop
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        seen = _versions_seen(link)
        assert len(seen) == 1, seen  # every table of one version
        number = seen.pop()
        # and the next publish (a new process) goes on from there
        versions.publish(link, _write_version(tmp_path / "pending", number + 1000))
        assert _versions_seen(link) == {number + 1000}
        number += 1000


def test_unchanged_tables_are_hard_linked_and_the_old_layout_adopted(tmp_path: Path) -> None:
    link = tmp_path / "features"
    _write_version(link, 1)  # a real folder, as data folders were before
    (link / "coverage.json").write_text("{}")
    new = _write_version(tmp_path / "pending", 2)[:1]  # one table rebuilt
    versions.publish(link, new)
    assert link.is_symlink() and os.readlink(link) == ".features.v1"
    assert _versions_seen(link) == {1, 2}  # user_activity new, the rest kept
    kept = link / "user_profile.parquet"
    assert kept.stat().st_ino == (tmp_path / ".features.v0" / "user_profile.parquet").stat().st_ino
    assert (link / "coverage.json").read_text() == "{}"


def test_a_copy_of_the_data_folder_has_its_own_versions(tmp_path: Path) -> None:
    """The link is relative: `cp -a` of a data folder points at the copy's tables."""
    original = tmp_path / "data"
    write_trap_log(original, days=["2026-03-01", "2026-03-03"])
    settings = Settings.from_env(original)
    build(settings, echo=None)
    assert settings.features_dir.is_symlink()
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(original), str(copy)], check=True)
    copied = Settings.from_env(copy)
    assert copied.features_dir.resolve().parent == copy.resolve()
    before = _files(settings.features_dir / "user_activity")
    write_trap_log(copy, days=["2026-03-04"])
    build(copied, echo=None)
    assert _files(copied.features_dir / "user_activity") != before
    assert _files(settings.features_dir / "user_activity") == before
    assert settings.features_dir.resolve().parent == original.resolve()


def _files(table: Path) -> dict[str, bytes]:
    return {file.name: file.read_bytes() for file in sorted(table.iterdir())}


def _partitioned(folder: Path, days: dict[str, int]) -> Path:
    """A feature table folder (pitstop.feature_tables): one file per date holding ``number``,
    named as an export names it (a new name for every export)."""
    folder.mkdir(parents=True)
    export = folder.parent.name
    for day, number in days.items():
        pq.write_table(pa.table({"version": [number]}), folder / f"{day}.{export}-0.parquet")
    pq.write_table(pa.table({"version": pa.array([], pa.int64())}), folder / "_schema.parquet")
    return folder


def test_an_export_of_changed_partitions_replaces_only_those(tmp_path: Path) -> None:
    link = tmp_path / "features"
    days = {"2026-03-01": 1, "2026-03-02": 1, "2026-03-03": 1}
    versions.publish(link, [_partitioned(tmp_path / "p1" / "user_activity", days)])
    table = link / "user_activity"
    first = next(table.glob("2026-03-01.*"))

    changed = {"2026-03-03": 2, "2026-03-04": 2}
    versions.publish(
        link, [_partitioned(tmp_path / "p2" / "user_activity", changed)], merged={"user_activity"}
    )
    files = feature_tables.files(table)
    assert [file.name for file in files[:1]] == [feature_tables.SCHEMA_FILE]
    assert [str(feature_tables.partition_date(file)) for file in files[1:]] == [
        "2026-03-01",
        "2026-03-02",
        "2026-03-03",
        "2026-03-04",
    ]
    assert pq.read_table(table).column("version").to_pylist() == [1, 1, 2, 2]
    kept = table / first.name
    assert (
        kept.stat().st_ino
        == (tmp_path / ".features.v1" / "user_activity" / first.name).stat().st_ino
    )
    # the version before is whole as it was
    before = tmp_path / ".features.v1" / "user_activity"
    assert pq.read_table(before).column("version").to_pylist() == [1, 1, 1]

    # a full export (not merged) replaces the table: a partition it lacks is gone
    versions.publish(link, [_partitioned(tmp_path / "p3" / "user_activity", {"2026-03-02": 3})])
    assert pq.read_table(link / "user_activity").column("version").to_pylist() == [3]


def test_a_single_file_table_gives_way_to_its_folder(tmp_path: Path) -> None:
    """A data folder built before the tables were partitioned has user_activity.parquet."""
    link = tmp_path / "features"
    versions.publish(link, _write_version(tmp_path / "pending", 1))
    versions.publish(link, [_partitioned(tmp_path / "p" / "user_activity", {"2026-03-01": 2})])
    assert not (link / "user_activity.parquet").exists()
    assert (link / "user_profile.parquet").is_file()
    assert pq.read_table(link / "user_activity").column("version").to_pylist() == [2]


@pytest.mark.parametrize("resolved", [True, False], ids=["link resolved", "through the link"])
def test_a_reader_of_a_partitioned_table_sees_one_version_during_merged_publishes(
    tmp_path: Path, resolved: bool
) -> None:
    """Publish k rewrites partition k - 1 and adds partition k, both holding k: in version k,
    partition j holds j + 1 below k - 1 and k from there. A reader that resolves the link
    first (as pitstop's readers do) reads one version's partitions, never some of the next;
    one that lists and opens through the link (stock Feast's glob) may find a rewritten
    partition gone, never one of the next version in its place."""
    link = tmp_path / "features"

    def day(index: int) -> str:
        return f"{2026 + index // 365}-{(index % 365) // 28 + 1:02d}-{index % 28 + 1:02d}"

    versions.publish(link, [_partitioned(tmp_path / "p0" / "user_activity", {day(0): 0})])

    def read_once() -> bool:
        current = versions.current_version(link)
        assert current is not None
        try:
            files = feature_tables.files((current if resolved else link) / "user_activity")
            values = [
                int(pq.read_table(file).column("version")[0].as_py())
                for file in files
                if file.name != feature_tables.SCHEMA_FILE
            ]
        except FileNotFoundError:
            return False  # a version two publishes old: a reader that slow starts again
        k = len(values) - 1
        expected = [j + 1 for j in range(k - 1)] + [k] * min(2, k + 1)
        assert k == 0 or values == expected, f"{current.name if resolved else 'link'}: {values}"
        return True

    def publish_all() -> None:
        for k in range(1, 40):
            pending = _partitioned(tmp_path / f"p{k}" / "user_activity", {day(k - 1): k, day(k): k})
            versions.publish(link, [pending], merged={"user_activity"})
            time.sleep(0.02)

    assert _reads_during(publish_all, read_once) > 20
