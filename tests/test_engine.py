"""The engine is chosen once (pitstop.engine): every PITSTOP_ENGINE value has one, and what
differs between them is what the build and the Feast adapter read."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pitstop.engine import engine_for
from pitstop.settings import ENGINES, Settings


def test_every_engine_setting_names_an_engine(tmp_path: Path) -> None:
    for name in ENGINES:
        assert (
            engine_for(dataclasses.replace(Settings(data_dir=tmp_path), engine=name)).name == name
        )


def test_duckdb_builds_incrementally_and_keeps_the_committed_offline_store(tmp_path: Path) -> None:
    duckdb = engine_for(Settings(data_dir=tmp_path))
    assert duckdb.incremental
    assert duckdb.feast_offline_store(Settings(data_dir=tmp_path)) is None
    assert duckdb.feast_apply_flags == ()


def test_spark_builds_whole_and_gives_feast_its_spark_store(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, engine="spark")
    spark = engine_for(settings)
    assert not spark.incremental
    offline_store = spark.feast_offline_store(settings)
    assert offline_store is not None and offline_store["type"] == "spark"
    assert spark.feast_apply_flags == ("--skip-source-validation",)
