"""Plain Feast, the baseline of every benchmark: the same registry and feature tables, with
Feast's own stores instead of pitstop's plugins.

pitstop's feature_store.yaml names pitstop's offline and online-store plugins, so a `feast`
command on the repo runs pitstop's code. The baseline must not: :func:`yaml_path` writes a
copy of the generated config with Feast's own DuckDB offline store and Feast's own SQLite
online store (its layout, reader and writer) in a file of its own
(``<data>/feast/plain_online_store.db``), or Feast's own Redis store on the same database.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))

import yaml  # noqa: E402

from pitstop.feast_adapter.config import (  # noqa: E402
    FEAST_YAML_ENV,
    feast_config,
    feast_environment,
    feasts_own_online_store,
)
from pitstop.settings import FEATURE_REPO_DIR, Settings  # noqa: E402

if TYPE_CHECKING:
    from feast import FeatureStore

PITSTOP_OFFLINE_STORE = "pitstop.offline.store.PitstopOfflineStore"


def online_store_path(settings: Settings) -> Path:
    """Where plain Feast keeps its SQLite online store."""
    return settings.feast_dir / "plain_online_store.db"


def yaml_path(settings: Settings) -> Path:
    """feature_store.yaml for plain Feast on ``settings`` (written when it changed)."""
    config = feast_config(settings)
    if config["offline_store"].get("type") == PITSTOP_OFFLINE_STORE:
        config["offline_store"] = {"type": "duckdb"}
    config["online_store"] = feasts_own_online_store(settings, online_store_path(settings))
    path = settings.feast_dir / "plain_feature_store.yaml"
    text = yaml.safe_dump(config, sort_keys=False)
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


def environment(settings: Settings) -> dict[str, str]:
    """The variables that point a `feast` command at plain Feast on ``settings``."""
    return {**feast_environment(settings), FEAST_YAML_ENV: str(yaml_path(settings))}


def store(settings: Settings) -> FeatureStore:
    from feast import FeatureStore

    return FeatureStore(repo_path=str(FEATURE_REPO_DIR), fs_yaml_file=yaml_path(settings))


def materialize(settings: Settings) -> None:
    """`feast materialize` from 1970 to now with plain Feast, into empty tables it made."""
    from pitstop.feast_adapter import repo

    for suffix in ("", "-wal", "-shm"):
        Path(f"{online_store_path(settings)}{suffix}").unlink(missing_ok=True)
    feast = store(settings)
    repo.ensure_online_tables(feast)
    feast.materialize(
        start_date=dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc),
        end_date=dt.datetime.now(dt.timezone.utc),
    )
