"""Spark parity: the same raw files through the DuckDB path and the Spark path give the same
feature tables, quarantine, training sets (churn_v1, ranking_v1) and online values.

The Spark path is ``PITSTOP_ENGINE=spark`` end to end: dbt-spark (session method) builds the
tables, Feast's Spark offline store produces the training sets and reads the tables for
materialization. One Spark session serves the whole test run (``spark`` fixture); the data is
small (a generated log of a few hundred users over two weeks plus the hand-made trap log) so
the module stays near two minutes on this machine kind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pitstop.build.run import BuildReport, build
from pitstop.feast_adapter import repo
from pitstop.generator import generate_events
from pitstop.offline import build_training_set
from pitstop.settings import Settings
from tests.conftest import write_trap_log

pytestmark = pytest.mark.spark

USERS, DAYS, START, SEED = 300, 14, "2026-03-01", 5
SERVICES = ("churn_v1", "ranking_v1")
FEATURE_TABLES = ("user_activity", "user_profile", "item_popularity", "churn_labels")
KEYS = {"item_popularity": ["item_id"]}
UNKNOWN = 99_999_999
# Online lookups send the request's clock for the on-demand view; fixed here.
REQUEST_TIME = dt.datetime(2026, 3, 20, 12, tzinfo=dt.timezone.utc)


@dataclasses.dataclass
class EngineRun:
    """What one engine produced from the shared raw files, and how long each step took."""

    settings: Settings
    built: BuildReport
    training: dict[str, pd.DataFrame]
    online: dict[str, dict[str, list[Any]]]
    seconds: dict[str, float]


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The one Spark session of the test run, with pitstop's settings; stopped at the end."""
    from pitstop.build.spark_session import spark_session

    settings = Settings.from_env(tmp_path_factory.mktemp("spark-session"))
    session = spark_session(settings)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def raw_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated dirty log (two weeks) plus the trap log, in one data folder's raw/."""
    folder = tmp_path_factory.mktemp("parity-raw")
    generate_events(
        Settings.from_env(folder),
        users=USERS,
        days=DAYS,
        seed=SEED,
        start=dt.date.fromisoformat(START),
        dirty_rate=0.02,
        progress=False,
    )
    # the trap log's files next to the generated ones (same days, other file names)
    traps = tmp_path_factory.mktemp("parity-traps")
    write_trap_log(traps)
    for path in (traps / "raw" / "events").glob("date=*/*.jsonl"):
        target = folder / "raw" / "events" / path.parent.name / f"trap-{path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return folder / "raw"


def _entities(settings: Settings, out: Path) -> dict[str, Path]:
    """Entity files for both services: every user (and an unknown one) at midnights, in-day
    times and before the data starts; user-item pairs seen together in the log."""
    users = pq.read_table(settings.features_dir / "user_profile").column("user_id")
    user_ids = sorted(set(users.to_pylist())) + [UNKNOWN]
    times = [
        pd.Timestamp(f"{START} 00:00", tz="UTC") + pd.Timedelta(days=day, hours=hours)
        for day, hours in ((-3, 5), (3, 0), (6, 13.5), (10, 23), (16, 0))
    ]
    churn = pd.DataFrame(
        [(user, at) for i, user in enumerate(user_ids) for at in times[i % 2 :: 2]],
        columns=["user_id", "event_timestamp"],
    )
    items = pq.read_table(settings.features_dir / "item_popularity").column("item_id")
    item_ids = sorted(set(items.to_pylist())) + [UNKNOWN]
    ranking = pd.DataFrame(
        [
            (user, item_ids[(i * 7) % len(item_ids)], times[i % len(times)])
            for i, user in enumerate(user_ids)
        ],
        columns=["user_id", "item_id", "event_timestamp"],
    )
    paths = {"churn_v1": out / "churn_entities.parquet", "ranking_v1": out / "ranking.parquet"}
    churn.to_parquet(paths["churn_v1"], index=False)
    ranking.to_parquet(paths["ranking_v1"], index=False)
    return paths


def _online(settings: Settings, entity_files: dict[str, Path]) -> dict[str, dict[str, list[Any]]]:
    """Feast's get_online_features for the last time of every entity row, per service."""
    store = repo.open_store(settings)
    values = {}
    for service in SERVICES:
        frame = pd.read_parquet(entity_files[service]).drop(columns="event_timestamp")
        rows = [
            {**row, repo.REQUEST_TIME: REQUEST_TIME}
            for row in frame.drop_duplicates().to_dict("records")
        ]
        values[service] = store.get_online_features(
            features=store.get_feature_service(service), entity_rows=rows
        ).to_dict()
    return values


def _run(settings: Settings, raw: Path, work: Path) -> EngineRun:
    shutil.copytree(raw, settings.data_dir / "raw")
    seconds = {}
    started = time.perf_counter()
    built = build(settings, echo=None)
    seconds["build"] = time.perf_counter() - started
    started = time.perf_counter()
    repo.apply(settings, echo=None)
    seconds["apply"] = time.perf_counter() - started
    started = time.perf_counter()
    repo.materialize(settings)
    seconds["materialize"] = time.perf_counter() - started
    entity_files = _entities(settings, work)
    training = {}
    started = time.perf_counter()
    for service in SERVICES:
        out = work / f"{service}.parquet"
        build_training_set(
            settings, feature_service=service, entities=entity_files[service], out=out
        )
        training[service] = pd.read_parquet(out)
    seconds["training_sets"] = time.perf_counter() - started
    started = time.perf_counter()
    online = _online(settings, entity_files)
    seconds["online"] = time.perf_counter() - started
    return EngineRun(settings, built, training, online, seconds)


@pytest.fixture(scope="module")
def duckdb_run(raw_log: Path, tmp_path_factory: pytest.TempPathFactory) -> EngineRun:
    folder = tmp_path_factory.mktemp("parity-duckdb")
    # Spark builds whole and keeps every line; the DuckDB warehouse keeps them too (a horizon
    # past the log's days), so both count the same lines.
    settings = dataclasses.replace(
        Settings.from_env(folder / "data"), engine="duckdb", warehouse_horizon_days=365
    )
    return _run(settings, raw_log, folder)


@pytest.fixture(scope="module")
def spark_run(
    spark: Any, duckdb_run: EngineRun, raw_log: Path, tmp_path_factory: pytest.TempPathFactory
) -> EngineRun:
    folder = tmp_path_factory.mktemp("parity-spark")
    settings = dataclasses.replace(Settings.from_env(folder / "data"), engine="spark")
    run = _run(settings, raw_log, folder)
    print(f"\nparity seconds: duckdb {duckdb_run.seconds} spark {run.seconds}")
    return run


def _sorted_table(path: Path, keys: list[str]) -> pa.Table:
    table = pq.read_table(path)
    return table.sort_by([(key, "ascending") for key in keys])


@pytest.mark.parametrize("name", FEATURE_TABLES)
def test_feature_tables_are_equal(duckdb_run: EngineRun, spark_run: EngineRun, name: str) -> None:
    keys = [*KEYS.get(name, ["user_id"]), "event_timestamp"]
    ours = _sorted_table(spark_run.settings.features_dir / name, keys)
    reference = _sorted_table(duckdb_run.settings.features_dir / name, keys)
    assert ours.schema.names == reference.schema.names
    assert ours.schema.types == reference.schema.types
    assert ours.num_rows == reference.num_rows > 0
    for column in reference.schema.names:
        assert ours.column(column).to_pylist() == reference.column(column).to_pylist(), column


def test_quarantine_and_line_counts_are_equal(duckdb_run: EngineRun, spark_run: EngineRun) -> None:
    def rows(run: EngineRun) -> list[tuple[Any, ...]]:
        table = pq.read_table(run.built.quarantine_path).to_pandas()
        table["file_path"] = table["file_path"].str.removeprefix(str(run.settings.data_dir))
        return sorted(table.itertuples(index=False, name=None))

    assert spark_run.built.counts == duckdb_run.built.counts
    assert duckdb_run.built.counts.quarantined_lines > 50
    assert rows(spark_run) == rows(duckdb_run)


@pytest.mark.parametrize("service", SERVICES)
def test_training_sets_are_equal(duckdb_run: EngineRun, spark_run: EngineRun, service: str) -> None:
    ours, reference = spark_run.training[service], duckdb_run.training[service]
    assert list(ours.columns) == list(reference.columns)
    assert len(reference) > 100
    # there is something to compare: most rows find a snapshot
    assert reference["events_7d"].notna().mean() > 0.5
    pd.testing.assert_frame_equal(ours, reference, check_exact=True)


@pytest.mark.parametrize("service", SERVICES)
def test_online_values_are_equal(duckdb_run: EngineRun, spark_run: EngineRun, service: str) -> None:
    ours, reference = spark_run.online[service], duckdb_run.online[service]
    assert sorted(ours) == sorted(reference)
    for name, values in reference.items():
        assert [_comparable(v) for v in ours[name]] == [_comparable(v) for v in values], name
    assert any(value is not None for value in reference["events_7d"])


def _comparable(value: Any) -> Any:
    """NaN equals NaN here (a float feature with no value)."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value
