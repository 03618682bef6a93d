"""One monitored data folder per session: synthetic feature tables, applied, materialized, and a
drift baseline from a ranking_v1 training set (user and item features). Tests that plant a
fault work on a copy (:func:`copy_of`), never on the original."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pitstop.settings import Settings
from tests.monitoring.synthetic import ITEMS, USERS, snapshot_days, write_feature_tables


@dataclass(frozen=True)
class Monitored:
    settings: Settings
    # The newest snapshot (today's UTC midnight, so the API's "now" finds it fresh) ...
    last: dt.datetime
    # ... and the time the tests measure at: half a day after it.
    now: dt.datetime


@pytest.fixture(scope="session")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Monitored:
    from pitstop.feast_adapter import repo
    from pitstop.monitoring import create_baseline
    from pitstop.offline import build_training_set

    data_dir = tmp_path_factory.mktemp("monitored")
    settings = Settings.from_env(data_dir)
    last = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    write_feature_tables(settings.features_dir, snapshot_days(last))
    repo.apply(settings, echo=None)
    repo.materialize(settings)
    # The baseline: two weeks of (user, random item) rows before the current window.
    rng = np.random.default_rng(11)
    days = [last - dt.timedelta(days=back) for back in range(20, 6, -1)]
    spine = pd.DataFrame(
        {
            "user_id": np.tile(np.arange(1, USERS + 1), len(days)).astype("int64"),
            "item_id": rng.integers(1, ITEMS + 1, USERS * len(days)).astype("int64"),
            "event_timestamp": np.repeat(pd.DatetimeIndex(days), USERS),
        }
    )
    spine.to_parquet(data_dir / "spine.parquet")
    build_training_set(
        settings,
        feature_service="ranking_v1",
        entities=data_dir / "spine.parquet",
        out=data_dir / "train.parquet",
        echo=lambda _line: None,
    )
    create_baseline(settings, data_dir / "train.parquet")
    return Monitored(settings=settings, last=last, now=last + dt.timedelta(hours=12))


def copy_of(monitored: Monitored, target: Path) -> Settings:
    """A copy of the monitored folder to plant a fault in. Its registry still names the
    original's feature tables, which no test changes: the offline path reads the same values."""
    shutil.copytree(monitored.settings.data_dir, target)
    return Settings.from_env(target)
