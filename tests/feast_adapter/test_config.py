"""The generated feature_store.yaml: the committed default, changed only where settings say."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pitstop.errors import ConfigurationError
from pitstop.feast_adapter.config import (
    feast_config,
    feasts_own_online_store,
    redis_connection_string,
    sqlalchemy_url,
    write_feature_store_yaml,
)
from pitstop.settings import Settings


def test_default_settings_keep_the_committed_config(tmp_path: Path) -> None:
    config = feast_config(Settings(data_dir=tmp_path))
    assert config["online_store"] == {
        "type": "pitstop.online.feast_store.PitstopOnlineStore",
        "path": f"{tmp_path}/online_store.db",
    }
    assert config["registry"] == f"{tmp_path}/registry.db"
    assert config["offline_store"]["type"] == "pitstop.offline.store.PitstopOfflineStore"


def test_redis_and_sql_registry_replace_their_sections(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        online_store="redis",
        redis_url="redis://:s3cret@10.0.0.5:6380/2",
        registry_url="postgresql://feast@db:5432/registry",
    )
    written = yaml.safe_load(write_feature_store_yaml(settings).read_text())
    assert written["online_store"] == {
        "type": "pitstop.online.feast_store.PitstopOnlineStore",
        "redis_url": "redis://:s3cret@10.0.0.5:6380/2",
        "redis_type": "redis",
    }
    # Feast's own Redis store, the benchmarks' and equivalence tests' baseline:
    assert feasts_own_online_store(settings, tmp_path / "unused.db") == {
        "type": "redis",
        "connection_string": "10.0.0.5:6380,db=2,password=s3cret",
    }
    assert written["registry"]["registry_type"] == "sql"
    assert written["registry"]["path"] == "postgresql+psycopg://feast@db:5432/registry"


def test_environment_selects_the_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PITSTOP_ONLINE_STORE", "Redis")
    monkeypatch.setenv("PITSTOP_ENGINE", "spark")
    settings = Settings.from_env(tmp_path)
    assert (settings.online_store, settings.engine) == ("redis", "spark")
    monkeypatch.setenv("PITSTOP_ONLINE_STORE", "memcached")
    with pytest.raises(ConfigurationError, match="PITSTOP_ONLINE_STORE must be one of"):
        Settings.from_env(tmp_path)


@pytest.mark.parametrize("url", ["http://host:6379", "redis://host/zero", "127.0.0.1:6379"])
def test_a_bad_redis_url_is_named(url: str) -> None:
    with pytest.raises(ConfigurationError, match="PITSTOP_REDIS_URL"):
        redis_connection_string(url)


def test_a_registry_url_must_be_postgresql() -> None:
    with pytest.raises(ConfigurationError, match="PITSTOP_REGISTRY_URL"):
        sqlalchemy_url("mysql://root@localhost/feast")


def test_the_spark_engine_selects_feasts_spark_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PITSTOP_ENGINE", "spark")
    monkeypatch.setenv("PITSTOP_SPARK_MASTER", "spark://spark-master:7077")
    settings = Settings.from_env(tmp_path)
    written = yaml.safe_load(write_feature_store_yaml(settings).read_text())
    offline = written["offline_store"]
    assert offline["type"] == "spark"
    conf = offline["spark_conf"]
    assert conf["spark.master"] == "spark://spark-master:7077"
    # the settings each seen failing without them (service/pitstop/build/spark_session.py)
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.sql.parquet.outputTimestampType"] == "TIMESTAMP_MICROS"
    assert conf["spark.sql.catalogImplementation"] == "in-memory"
    assert conf["spark.sql.legacy.allowNonEmptyLocationInCTAS"] == "true"
    assert conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.sql.warehouse.dir"].startswith(str(tmp_path))
    # the DuckDB engine keeps pitstop's store
    monkeypatch.setenv("PITSTOP_ENGINE", "duckdb")
    duckdb_config = yaml.safe_load(
        write_feature_store_yaml(Settings.from_env(tmp_path)).read_text()
    )
    assert duckdb_config["offline_store"]["type"] == "pitstop.offline.store.PitstopOfflineStore"
