"""Profiles and PSI against plain numpy on the same values."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pitstop import spill
from pitstop.monitoring.drift import drift, psi
from pitstop.monitoring.profiles import Bins, Profile, cut_points, profile_rows


def test_histogram_counts_equal_numpy_and_days_add_up() -> None:
    rng = np.random.default_rng(3)
    days = np.repeat(pd.date_range("2026-03-01", periods=4, tz="UTC"), 5_000)
    values = rng.poisson(3.0, len(days)).astype("float64")
    values[rng.random(len(days)) < 0.1] = np.nan
    frame = pd.DataFrame({"day": days, "x": values})
    with spill.connect() as connection:
        connection.register("frame", frame)
        bins = cut_points(connection, "SELECT * FROM frame", ["x"])
        profiles = profile_rows(connection, "SELECT * FROM frame", bins)
    feature_bins = bins["x"]
    assert feature_bins is not None
    whole = profiles[None]["x"]

    present = values[~np.isnan(values)]
    edges = feature_bins.edges
    expected = [int((present < edges[0]).sum())]
    expected += [
        int(((present >= lo) & (present < hi)).sum())
        for lo, hi in zip(edges, edges[1:-1], strict=False)
    ]
    expected += [int(((present >= edges[-2]) & (present <= edges[-1])).sum())]
    expected += [int((present > edges[-1]).sum()), int(np.isnan(values).sum())]
    assert list(whole.counts) == expected
    assert whole.rows == len(values) and whole.null_rate == pytest.approx(np.isnan(values).mean())
    assert whole.mean == pytest.approx(present.mean()) and whole.std == pytest.approx(present.std())
    assert whole.quantiles["p50"] == pytest.approx(np.median(present), abs=1.0)

    days_only = [profile for day, profile in profiles.items() if day is not None]
    assert len(days_only) == 4
    summed = days_only[0]["x"]
    for profile in days_only[1:]:
        summed = summed.combine(profile["x"])
    assert summed.counts == whole.counts and summed.rows == whole.rows
    assert summed.mean == pytest.approx(whole.mean)


def test_one_valued_baseline_still_has_three_value_bins() -> None:
    bins = Bins.from_cut_points([0.0, 0.0, 0.0])
    assert bins.edges == (0.0, 0.0) and bins.size == 4
    assert bins.labels() == ["< 0", "[0, 0]", "> 0", "null"]


def test_psi_and_statuses() -> None:
    assert psi([100, 100], [100, 100]) == 0.0
    assert psi([500, 500], [900, 100]) == pytest.approx(
        0.4 * np.log(1.8) + 0.4 * np.log(5), rel=1e-9
    )
    baseline = Profile(rows=2_000, nulls=0, counts=(1_000, 1_000, 0))
    assert drift(baseline, Profile(rows=2_000, nulls=0, counts=(1_000, 1_000, 0))).status == "ok"
    assert drift(baseline, Profile(rows=2_000, nulls=0, counts=(1_350, 650, 0))).status == "warn"
    assert drift(baseline, Profile(rows=2_000, nulls=0, counts=(1_600, 400, 0))).status == "error"
    few = drift(baseline, Profile(rows=999, nulls=0, counts=(500, 499, 0)))
    assert few.status == "insufficient_data"
    assert drift(None, None).status == "insufficient_data"


def test_feature_table_rows_count_for_every_day_until_the_next_row(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pitstop.monitoring.profiles import feature_table_sql

    utc = dt.timezone.utc
    day = [dt.datetime(2026, 3, d, tzinfo=utc) for d in range(1, 8)]
    table = pd.DataFrame(
        {
            "user_id": [1, 1, 2],
            "event_timestamp": pd.to_datetime([day[0], day[3], day[1]], utc=True),
            "x": [1.0, 2.0, 5.0],
        }
    )
    path = tmp_path / "t.parquet"
    table.to_parquet(path)
    sql = feature_table_sql(path, "user_id", ["x"], day[2:], dt.timedelta(days=3))
    with spill.connect() as connection:
        rows = connection.execute(
            f"SELECT day, user_id, x FROM ({sql}) ORDER BY day, user_id"
        ).fetchall()
    got = [(d.day, user, x) for d, user, x in rows]
    # user 1: 1.0 on the 3rd, 2.0 from the 4th on; user 2: 5.0 until its ttl (3 days) runs out
    # (a row exactly ttl old still counts, as in the offline store).
    assert got == [
        (3, 1, 1.0),
        (3, 2, 5.0),
        (4, 1, 2.0),
        (4, 2, 5.0),
        (5, 1, 2.0),
        (5, 2, 5.0),
        (6, 1, 2.0),
        (7, 1, 2.0),
    ]
