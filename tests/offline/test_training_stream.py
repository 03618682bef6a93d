"""The streamed training set (Arrow batches straight to Parquet) equals the pandas path."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pitstop.offline import build_training_set
from pitstop.offline import store as offline_store
from pitstop.settings import Settings
from tests.offline.test_training import _entity_frame


@pytest.mark.parametrize("service", ["churn_v1", "ranking_v1"])
def test_streamed_file_equals_the_to_df_path(
    trap_store: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service: str
) -> None:
    entities = tmp_path / "entities.parquet"
    frame = _entity_frame()
    frame["weight"] = [0.5 if i % 3 else None for i in range(len(frame))]
    frame.to_parquet(entities, index=False)
    whole = build_training_set(
        trap_store,
        feature_service=service,
        entities=entities,
        out=tmp_path / "whole.parquet",
        stream=False,
    )
    # Several batches, one of them short.
    original = offline_store.PitstopRetrievalJob.iter_batches
    monkeypatch.setattr(
        offline_store.PitstopRetrievalJob,
        "iter_batches",
        lambda self, batch_size=0: original(self, 7),
    )
    streamed = build_training_set(
        trap_store, feature_service=service, entities=entities, out=tmp_path / "stream.parquet"
    )
    left = pq.read_table(tmp_path / "whole.parquet")
    right = pq.read_table(tmp_path / "stream.parquet")
    assert right.schema.equals(left.schema, check_metadata=False)
    assert right.equals(left)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "stream.parquet"), pd.read_parquet(tmp_path / "whole.parquet")
    )
    assert pq.ParquetFile(tmp_path / "stream.parquet").metadata.num_row_groups > 1
    assert streamed.rows == whole.rows == len(frame)
    assert streamed.columns == whole.columns
    assert streamed.null_share == pytest.approx(whole.null_share)


def test_the_entity_file_reaches_pitstops_store_as_arrow_never_as_pandas(
    trap_store: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks run over Arrow columns: the file is never read whole into a pandas frame."""
    import pyarrow as pa

    from pitstop.feast_adapter import repo as feast_repo

    entities = tmp_path / "entities.parquet"
    frame = _entity_frame()
    frame.to_parquet(entities, index=False)
    expected = build_training_set(
        trap_store, feature_service="churn_v1", entities=entities, out=tmp_path / "a.parquet"
    )

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the entity file was read into pandas")

    handed: list[Any] = []
    original = feast_repo.historical_job

    def spy(store: Any, service: Any, rows: Any) -> Any:
        handed.append(rows)
        return original(store, service, rows)

    monkeypatch.setattr(pd, "read_parquet", refuse)
    monkeypatch.setattr(feast_repo, "historical_job", spy)
    report = build_training_set(
        trap_store, feature_service="churn_v1", entities=entities, out=tmp_path / "b.parquet"
    )
    assert [type(rows) for rows in handed] == [pa.Table]
    assert report.rows == expected.rows == len(frame)
    assert pq.read_table(tmp_path / "b.parquet").equals(pq.read_table(tmp_path / "a.parquet"))


# ---- retrieval by time range -------------------------------------------------------------------


def _expected_spine(trap_store: Settings, start: str, end: str, step: str) -> pd.DataFrame:
    import duckdb

    """Every user with a row of churn_v1's tables in [start, end), at every step from start
    that is not before the user's first row in either table."""
    folder = trap_store.features_dir
    within = f"event_timestamp >= TIMESTAMPTZ '{start}' AND event_timestamp < TIMESTAMPTZ '{end}'"
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        return connection.sql(
            f"""
            WITH seen AS (
                SELECT user_id FROM read_parquet('{folder}/user_activity/*.parquet')
                WHERE {within}
                UNION
                SELECT user_id FROM read_parquet('{folder}/user_profile/*.parquet')
                WHERE {within}
            ), first_rows AS (
                SELECT user_id, min(event_timestamp) AS first_at FROM (
                    SELECT user_id, event_timestamp
                    FROM read_parquet('{folder}/user_activity/*.parquet')
                    UNION ALL
                    SELECT user_id, event_timestamp
                    FROM read_parquet('{folder}/user_profile/*.parquet')
                ) GROUP BY user_id
            )
            SELECT s.user_id, t.range AS event_timestamp, l.churned_30d
            FROM seen s
            JOIN first_rows f USING (user_id)
            CROSS JOIN range(TIMESTAMPTZ '{start}', TIMESTAMPTZ '{end}', INTERVAL {step}) t
            LEFT JOIN read_parquet('{folder}/churn_labels/*.parquet') l
              ON l.user_id = s.user_id AND l.event_timestamp = t.range
            WHERE t.range >= f.first_at
            ORDER BY event_timestamp, user_id
            """
        ).df()


def test_time_range_spine_with_labels(
    trap_store: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pitstop.cli import main

    out = tmp_path / "range.parquet"
    args = ["training-set", "--data-dir", str(trap_store.data_dir), "--feature-service"]
    code = main(
        [*args, "churn_v1", "--start", "2026-03-10", "--end", "2026-03-13", "--labels"]
        + ["churn_labels", "--out", str(out)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    got = pd.read_parquet(out)
    want = _expected_spine(trap_store, "2026-03-10", "2026-03-13", "1 DAY")
    assert len(want) > 3
    assert got.columns[:3].tolist() == ["user_id", "event_timestamp", "churned_30d"]
    assert str(got["churned_30d"].dtype) == "boolean"  # it read back as object
    assert got["user_id"].tolist() == want["user_id"].tolist()
    assert (got["event_timestamp"] == want["event_timestamp"]).all()
    assert got["churned_30d"].astype(object).where(got["churned_30d"].notna(), None).tolist() == (
        want["churned_30d"].astype(object).where(want["churned_30d"].notna(), None).tolist()
    )
    # UTC midnights, three days; user 1's two events of 2026-03-11 (tests/offline/test_training.py).
    assert sorted({str(t) for t in got["event_timestamp"]}) == [
        "2026-03-10 00:00:00+00:00",
        "2026-03-11 00:00:00+00:00",
        "2026-03-12 00:00:00+00:00",
    ]
    row = got[(got["user_id"] == 1) & (got["event_timestamp"] == "2026-03-11T00:00:00Z")]
    assert row["events_1d"].tolist() == [2]
    assert got["churned_30d"].notna().any()


def test_no_spine_row_precedes_its_users_first_feature_row(
    trap_store: Settings, tmp_path: Path
) -> None:
    """Such rows had only null features, and a drift baseline built from them held a null
    bin no serving window has (PSI 2.2-4.9 on a healthy log)."""
    from pitstop.offline import TimeRange

    out = tmp_path / "range.parquet"
    build_training_set(
        trap_store,
        feature_service="churn_v1",
        entities=TimeRange(start="2026-03-01", end="2026-03-20"),
        out=out,
    )
    got = pd.read_parquet(out)
    want = _expected_spine(trap_store, "2026-03-01", "2026-03-20", "1 DAY")
    assert got["user_id"].tolist() == want["user_id"].tolist()
    assert (got["event_timestamp"] == want["event_timestamp"]).all()
    # the rule is exercised: some users join after the start
    assert len(got) < got["user_id"].nunique() * 19


def test_a_range_past_the_data_is_the_datas_range(
    trap_store: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--start 0001-01-01 --end 9999-12-31` wrote 34 GB of spill files before it was
    killed; it is now the data's own steps, said in a note."""
    from pitstop.cli import main

    whole, exact = tmp_path / "whole.parquet", tmp_path / "exact.parquet"
    args = ["training-set", "--data-dir", str(trap_store.data_dir), "--feature-service"]
    started = time.monotonic()
    code = main(
        [*args, "churn_v1", "--start", "0001-01-01", "--end", "9999-12-31"] + ["--out", str(whole)]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert time.monotonic() - started < 60
    assert "note: steps from 2026-" in err and "the data's range" in err
    got = pd.read_parquet(whole)
    first, last = got["event_timestamp"].min(), got["event_timestamp"].max()
    assert first.year == last.year == 2026
    # the same rows as the range written out by hand
    end = (last + pd.Timedelta(days=1)).date().isoformat()
    code = main(
        [*args, "churn_v1", "--start", first.date().isoformat(), "--end", end]
        + ["--out", str(exact)]
    )
    assert code == 0
    pd.testing.assert_frame_equal(got, pd.read_parquet(exact))


def test_time_range_every_12h(trap_store: Settings, tmp_path: Path) -> None:
    from pitstop.offline import TimeRange

    out = tmp_path / "range.parquet"
    build_training_set(
        trap_store,
        feature_service="churn_v1",
        entities=TimeRange(start="2026-03-10", end="2026-03-12", every="12h"),
        out=out,
    )
    got = pd.read_parquet(out)
    want = _expected_spine(trap_store, "2026-03-10", "2026-03-12", "12 HOURS")
    assert got["user_id"].tolist() == want["user_id"].tolist()
    assert got["event_timestamp"].nunique() == 4
    assert "churned_30d" not in got.columns


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--feature-service", "ranking_v1", "--start", "2026-03-10", "--end", "2026-03-12"],
            "pass --entities",
        ),
        (
            [
                "--feature-service",
                "churn_v1",
                "--start",
                "2026-03-10",
                "--end",
                "2026-03-12",
                "--every",
                "1w",
            ],
            "--every",
        ),
        (
            [
                "--feature-service",
                "churn_v1",
                "--start",
                "2026-03-10",
                "--end",
                "2026-03-12",
                "--labels",
                "nope",
            ],
            "no labels table 'nope'",
        ),
        (
            ["--feature-service", "churn_v1", "--start", "2026-03-12", "--end", "2026-03-10"],
            "must be after",
        ),
        (["--feature-service", "churn_v1"], "--start DATE and --end DATE"),
    ],
)
def test_time_range_errors_are_one_line(
    trap_store: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    from pitstop.cli import main

    out = tmp_path / "x.parquet"
    code = main(["training-set", "--data-dir", str(trap_store.data_dir), *extra, "--out", str(out)])
    err = capsys.readouterr().err
    assert code != 0
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()


# ---- errors before any heavy work --------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "service", "message"),
    [
        (lambda f: f.drop(columns=["event_timestamp"]), "churn_v1", "no `event_timestamp`"),
        (lambda f: f.assign(user_id=f["user_id"].astype(str)), "churn_v1", "must hold integers"),
        (lambda f: f.assign(user_id=f["user_id"].astype(float)), "churn_v1", "empty cells?"),
        (lambda f: f, "churn_v9", "no feature service 'churn_v9'"),
    ],
    ids=["no-event_timestamp", "string-key", "float-key", "unknown-service"],
)
def test_errors_come_before_reading_the_rows(
    trap_store: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: Any,
    service: str,
    message: str,
) -> None:
    from pitstop.errors import PitstopError
    from pitstop.offline import entity_file

    entities = tmp_path / "entities.parquet"
    change(_entity_frame()).to_parquet(entities, index=False)

    def refuse(path: Path) -> None:
        raise AssertionError("the entity rows were read before the error")

    monkeypatch.setattr(entity_file, "read", refuse)
    with pytest.raises(PitstopError) as raised:
        build_training_set(
            trap_store, feature_service=service, entities=entities, out=tmp_path / "o.parquet"
        )
    assert message in str(raised.value) and "\n" not in str(raised.value)
