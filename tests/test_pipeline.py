"""End to end in a temporary data folder, through the real commands and a real HTTP server.

generate -> build -> apply -> materialize -> training set -> `pitstop serve` in a child process
-> POST /get-online-features; the API's values must equal Feast's own get_online_features and
the latest snapshot rows of the Parquet feature tables. Then `pitstop run` on the same folder.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pitstop.api.background import api_in_background
from pitstop.cli import main
from pitstop.feast_adapter import repo
from pitstop.settings import Settings

USERS, DAYS, SEED = 300, 20, 11
UNKNOWN_USER = 10_000_000
# Batch features of churn_v1 and the table whose latest row holds them.
TABLE_OF = {
    "events_1d": "user_activity",
    "events_7d": "user_activity",
    "events_30d": "user_activity",
    "sessions_7d": "user_activity",
    "purchases_30d": "user_activity",
    "revenue_7d": "user_activity",
    "revenue_30d": "user_activity",
    "avg_order_value_30d": "user_activity",
    "days_active_30d": "user_activity",
    "first_seen_at": "user_profile",
    "last_event_at": "user_profile",
    "last_purchase_at": "user_profile",
    "lifetime_purchases": "user_profile",
    "lifetime_revenue": "user_profile",
}


def _pitstop(*args: str) -> None:
    assert main([*args, "--quiet"]) == 0, args


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir = tmp_path_factory.mktemp("pipeline")
    folder = ["--data-dir", str(data_dir)]
    _pitstop("generate", *folder, "--users", str(USERS), "--days", str(DAYS), "--seed", str(SEED))
    _pitstop("build", *folder)
    _pitstop("apply", *folder)
    _pitstop("materialize", *folder)
    return Settings.from_env(data_dir)


@pytest.fixture(scope="module")
def latest(pipeline: Settings) -> dict[str, pd.DataFrame]:
    """The latest snapshot row per user of each user table: what the online store must hold."""
    rows = {}
    for table in ("user_activity", "user_profile"):
        frame = pd.read_parquet(pipeline.features_dir / table)
        newest = frame.sort_values("event_timestamp").groupby("user_id").tail(1)
        rows[table] = newest.set_index("user_id")
    return rows


@pytest.fixture(scope="module")
def users(latest: dict[str, pd.DataFrame]) -> list[int]:
    """A busy user, a user without purchases, a silent user and one never seen."""
    activity = latest["user_activity"]
    profile = latest["user_profile"]
    busy = int(activity["events_7d"].idxmax())
    no_purchase = int(profile.index[profile["last_purchase_at"].isna()][0])
    silent = int(activity.index[activity["events_7d"] == 0][0])
    return list(dict.fromkeys([busy, no_purchase, silent, UNKNOWN_USER]))


@pytest.fixture(scope="module")
def api(pipeline: Settings) -> Iterator[str]:
    """`pitstop serve` as a child process on a free port."""
    with api_in_background(pipeline, log_path=pipeline.data_dir / "logs" / "api.log") as server:
        server.wait_until_healthy()
        yield server.base_url


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        result: dict[str, Any] = json.load(answer)
        return result


def _epoch_seconds(value: Any) -> Any:
    """Online timestamps are whole seconds (Feast's UnixTimestamp value); offline keep µs."""
    if isinstance(value, dt.datetime | pd.Timestamp):
        return math.floor(value.timestamp())
    return value


def test_training_set_at_the_newest_snapshot_equals_the_feature_tables(
    pipeline: Settings, latest: dict[str, pd.DataFrame], users: list[int], tmp_path: Path
) -> None:
    newest = latest["user_activity"]["event_timestamp"].max()
    entities = pd.DataFrame(
        {"user_id": users, "event_timestamp": [newest] * len(users), "label": range(len(users))}
    )
    entities.to_parquet(tmp_path / "entities.parquet", index=False)
    _pitstop(
        "training-set",
        "--data-dir",
        str(pipeline.data_dir),
        "--feature-service",
        "churn_v1",
        "--entities",
        str(tmp_path / "entities.parquet"),
        "--out",
        str(tmp_path / "train.parquet"),
    )
    frame = pd.read_parquet(tmp_path / "train.parquet")
    assert frame["user_id"].tolist() == users and frame["label"].tolist() == list(range(len(users)))
    for _, row in frame.iterrows():
        for feature, table in TABLE_OF.items():
            snapshot = latest[table]
            want = (
                snapshot.loc[row["user_id"], feature] if row["user_id"] in snapshot.index else None
            )
            got = row[feature]
            assert (pd.isna(got) and pd.isna(want)) or got == want, (row["user_id"], feature)


def test_lookup_over_http_equals_feast_and_the_feature_tables(
    pipeline: Settings, api: str, users: list[int], latest: dict[str, pd.DataFrame]
) -> None:
    request_time = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    body = {
        "feature_service": "churn_v1",
        "entities": {
            "user_id": users,
            "request_time": [request_time.isoformat().replace("+00:00", "Z")] * len(users),
        },
    }
    answer = _post(f"{api}/get-online-features", body)
    names = answer["metadata"]["feature_names"]
    assert names[0] == "user_id"
    served = {name: column["values"] for name, column in zip(names, answer["results"], strict=True)}
    statuses = {
        name: column["statuses"] for name, column in zip(names, answer["results"], strict=True)
    }
    assert served["user_id"] == users

    store = repo.open_store(pipeline)
    feast_answer = store.get_online_features(
        features=store.get_feature_service("churn_v1"),
        entity_rows=[{"user_id": user, "request_time": request_time} for user in users],
    ).to_dict()
    assert set(feast_answer) == set(names)
    for name in names:
        assert served[name] == [_epoch_seconds(value) for value in feast_answer[name]], name

    for position, user in enumerate(users):
        if user == UNKNOWN_USER:
            assert all(statuses[name][position] == "NOT_FOUND" for name in TABLE_OF)
            assert all(served[name][position] is None for name in names[1:])
            continue
        for feature, table in TABLE_OF.items():
            want = latest[table].loc[user, feature]
            got = served[feature][position]
            if pd.isna(want):
                assert got is None, (user, feature)
            else:
                assert got == _epoch_seconds(want), (user, feature)
                assert statuses[feature][position] == "PRESENT", (user, feature)
        last_event_at = latest["user_profile"].loc[user, "last_event_at"]
        hours = (request_time - last_event_at).total_seconds() / 3600
        # the online last_event_at lost its sub-second part: at most one second of skew
        assert served["hours_since_last_event"][position] == pytest.approx(hours, abs=1 / 3600)


def test_pitstop_run_is_the_daily_job(
    pipeline: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    tables_before = {
        path.name: len(pd.read_parquet(path))
        for path in pipeline.features_dir.iterdir()
        if path.is_dir()
    }
    assert len(tables_before) >= 4, tables_before
    assert main(["run", "--data-dir", str(pipeline.data_dir)]) == 0
    out = capsys.readouterr().out
    for stage in ("build", "apply", "materialize", "total"):
        assert any(line.startswith(stage) for line in out.splitlines()), (stage, out)
    # no new raw data: the same tables
    tables_after = {
        path.name: len(pd.read_parquet(path))
        for path in pipeline.features_dir.iterdir()
        if path.is_dir()
    }
    assert tables_after == tables_before
