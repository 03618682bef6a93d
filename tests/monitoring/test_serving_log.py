"""The serving logger: stable sampling, an off switch, a buffer that never blocks."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
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


def test_sampling_is_stable_and_near_the_rate(tmp_path: Path) -> None:
    keys = list(range(20_000))
    picked = [key for key in keys if sampled([key], 0.05)]
    assert 0.04 < len(picked) / len(keys) < 0.06
    assert picked == [key for key in keys if sampled([key], 0.05)]
    assert set(picked) <= {key for key in keys if sampled([key], 0.2)}  # a higher rate adds keys
    # The logger writes the keys sampled() picks, each once, whatever the request's size.
    logger = ServingLogger(tmp_path, rate=0.05)
    _record(logger, keys[:2_000])
    assert logger.flush()
    logged = pq.read_table(tmp_path).column("entity_key").to_pylist()
    assert sorted(json.loads(key)["user_id"] for key in logged) == [
        key for key in keys[:2_000] if sampled([key], 0.05)
    ]
    logger.close()


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
    logger = ServingLogger(tmp_path, rate=1.0, capacity_bytes=64 << 10)
    logger.start()
    assert logger._process is not None
    os.kill(logger._process.pid, signal.SIGSTOP)  # the writer stops reading: the buffer fills
    try:
        started = time.perf_counter()
        for _ in range(2_000):
            _record(logger, [1, 2, 3])
        assert time.perf_counter() - started < 1.0
        assert 0 < logger.dropped < 2_000
    finally:
        os.kill(logger._process.pid, signal.SIGCONT)
    assert logger.flush()
    # Everything that was not dropped is written: three rows a lookup.
    assert pq.read_table(tmp_path).num_rows == 3 * (2_000 - logger.dropped)


def test_the_writer_process_writes_what_is_left_and_exits_with_the_logger(tmp_path: Path) -> None:
    logger = ServingLogger(tmp_path, rate=1.0, flush_seconds=60.0)
    _record(logger, [1, 2, 3])
    process = logger._process
    assert process is not None and process.poll() is None
    logger._socket.close()  # type: ignore[union-attr]  # as when the API process dies
    assert process.wait(10) == 0
    assert pq.read_table(tmp_path).num_rows == 3


def test_a_closed_logger_drops_instead_of_starting_a_new_writer(tmp_path: Path) -> None:
    logger = ServingLogger(tmp_path, rate=1.0)
    _record(logger, [1, 2])
    logger.close()
    _record(logger, [3])
    assert logger._process is None and logger._socket is None
    assert logger.dropped == 1
    assert pq.read_table(tmp_path).num_rows == 2
