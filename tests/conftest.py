"""Shared fixtures: hand-made raw logs and one dbt build of them per test session."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest

from pitstop.build.run import BuildReport, build
from pitstop.settings import Settings
from tests import trap_log
from tests.redis_cluster import RedisCluster, running_cluster

if TYPE_CHECKING:
    from feast import FeatureStore

RawLines = Mapping[str, Sequence[str]]


def write_raw_logs(data_dir: Path, partitions: RawLines, part: str = "part-00000") -> None:
    """Write lines (already serialized) under raw/events/date=<day>/<part>.jsonl."""
    for day, lines in partitions.items():
        folder = data_dir / "raw" / "events" / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{part}.jsonl").write_text("".join(line + "\n" for line in lines))


def write_trap_log(data_dir: Path, days: Sequence[str] | None = None) -> None:
    """tests/trap_log.py's log, optionally only its arrival partitions in ``days``."""
    chosen = {
        day: lines for day, lines in trap_log.partitions().items() if days is None or day in days
    }
    write_raw_logs(data_dir, chosen)
    if days is None or "2026-03-05" in days:
        write_raw_logs(
            data_dir, {"2026-03-05": [line for line, _ in trap_log.FAULTS]}, "part-00001"
        )
    if days is None or "2026-03-06" in days:
        folder = data_dir / "raw" / "events" / "date=2026-03-06"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "part-00001.jsonl").write_bytes(trap_log.NOT_UTF8_FILE)


@pytest.fixture(scope="session")
def trap_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, BuildReport]:
    """The hand-made log of tests/trap_log.py, built once with dbt for the whole session."""
    data_dir = tmp_path_factory.mktemp("traps")
    write_trap_log(data_dir)
    # the log spans 51 days: a horizon past them keeps every line, which these tests count
    settings = replace(Settings.from_env(data_dir), warehouse_horizon_days=365)
    return settings, build(settings, echo=None)


@pytest.fixture(scope="session")
def features(trap_build: tuple[Settings, BuildReport]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with the built feature tables as views named after the files."""
    settings, _ = trap_build
    connection = duckdb.connect()
    connection.execute("set TimeZone = 'UTC'")
    for path in sorted(settings.features_dir.iterdir()):
        if path.is_dir():  # a feature table: Parquet partitions by snapshot date
            connection.execute(
                f"create view {path.name} as select * from read_parquet('{path}/*.parquet')"
            )
    yield connection
    connection.close()


Lookup = Callable[..., dict[str, Any] | None]


@pytest.fixture(scope="session")
def lookup(features: duckdb.DuckDBPyConnection) -> Lookup:
    """Point-in-time lookup as Feast does it: the latest row with event_timestamp <= at."""

    def _lookup(table: str, key: int, at: str) -> dict[str, Any] | None:
        key_column = "item_id" if table == "item_popularity" else "user_id"
        cursor = features.execute(
            f"select * from {table} where {key_column} = ? and event_timestamp <= ?::timestamptz "
            "order by event_timestamp desc limit 1",
            [key, at],
        )
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([column[0] for column in cursor.description], row, strict=True))

    return _lookup


@pytest.fixture(scope="session")
def trap_store(trap_build: tuple[Settings, BuildReport]) -> Settings:
    """The trap log's data folder after `pitstop apply` and `pitstop materialize`.

    Shared by the Feast, training-set and API tests; none of them may write to it.
    """
    from pitstop.feast_adapter import repo

    settings, _ = trap_build
    repo.apply(settings, echo=None)
    repo.materialize(settings)
    return settings


@pytest.fixture(scope="session")
def local_store(trap_store: Settings) -> FeatureStore:
    """Feast itself on the trap data folder, in the test process: the reference answers."""
    from pitstop.feast_adapter import repo

    store: FeatureStore = repo.open_store(trap_store)
    return store


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A real three-node Redis Cluster on 127.0.0.1 for the session (tests/redis_cluster.py);
    fails, never skips, when redis-server is missing. A test that stops it must be last."""
    with running_cluster(tmp_path_factory.mktemp("redis-cluster")) as started:
        yield started
