"""The serving logger: stable sampling, an off switch, a buffer that never blocks."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pyarrow.parquet as pq

from pitstop.monitoring.serving_log import ServingLogger, sampled

AT = dt.datetime(2026, 3, 5, 12, 0, tzinfo=dt.timezone.utc)


def _record(logger: ServingLogger, users: list[int]) -> None:
    logger.record(
        feature_service="churn_v1",
        feature_refs=[],
        entities={"user_id": users, "request_time": ["2026-03-05T12:00:00Z"] * len(users)},
        request_time=AT,
        feature_names=["user_id", "events_7d"],
        values=[users, [u * 2 for u in users]],
        statuses=[["PRESENT"] * len(users), ["PRESENT"] * (len(users) - 1) + ["NOT_FOUND"]],
        event_timestamps=[[], ["2026-03-05T00:00:00Z"] * len(users)],
        latency_seconds=0.001,
    )


def test_sampling_is_stable_and_near_the_rate() -> None:
    keys = list(range(20_000))
    picked = [key for key in keys if sampled([key], 0.05)]
    assert 0.04 < len(picked) / len(keys) < 0.06
    assert picked == [key for key in keys if sampled([key], 0.05)]
    assert set(picked) <= {key for key in keys if sampled([key], 0.2)}  # a higher rate adds keys
    # The logger samples the same keys as sampled() says.
    logger = ServingLogger(Path("/nonexistent"), rate=0.05)
    logger._ensure_thread = lambda: None  # type: ignore[method-assign]
    _record(logger, keys[:2_000])
    logged = [
        json.loads(key)["user_id"] for sample in list(logger._queue.queue) for key, _ in sample.rows
    ]  # type: ignore[union-attr]
    assert logged == [key for key in keys[:2_000] if sampled([key], 0.05)]


def test_logged_rows_are_parquet_one_per_entity_and_feature(tmp_path: Path) -> None:
    logger = ServingLogger(tmp_path, rate=1.0)
    _record(logger, [1, 2, 3])
    logger.flush()
    files = sorted(tmp_path.glob("date=2026-03-05/part-*.parquet"))
    assert len(files) == 1
    rows = pq.read_table(files[0]).to_pylist()
    assert [(row["entity_key"], row["feature"], row["value"], row["status"]) for row in rows] == [
        ('{"user_id": 1}', "events_7d", 2.0, "PRESENT"),
        ('{"user_id": 2}', "events_7d", 4.0, "PRESENT"),
        ('{"user_id": 3}', "events_7d", 6.0, "NOT_FOUND"),
    ]
    assert rows[0]["event_timestamp"] == dt.datetime(2026, 3, 5, tzinfo=dt.timezone.utc)
    assert rows[2]["event_timestamp"] is None  # nothing was served
    assert rows[0]["request_time"] == AT and rows[0]["feature_service"] == "churn_v1"
    assert logger.stats.snapshot()["lookups"] == 1


def test_rate_zero_turns_logging_off(tmp_path: Path) -> None:
    logger = ServingLogger(tmp_path, rate=0.0)
    _record(logger, list(range(1, 200)))
    logger.flush()
    assert not list(tmp_path.rglob("*.parquet"))
    assert logger.stats.snapshot()["entity_rows"] == 199  # still counted for the page


def test_a_full_buffer_drops_instead_of_blocking(tmp_path: Path) -> None:
    logger = ServingLogger(tmp_path, rate=1.0, capacity=2, flush_seconds=60.0)
    logger._ensure_thread = lambda: None  # type: ignore[method-assign]  # no writer: stays full
    started = time.perf_counter()
    for _ in range(50):
        _record(logger, [1, 2, 3])
    assert time.perf_counter() - started < 0.5
    assert logger.dropped == 48
