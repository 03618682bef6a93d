"""Serving logs: a sample of online lookups, written to ``<data>/logs/serving/`` as Parquet.

The lookup path calls :meth:`ServingLogger.record` once per request. That call only decides
which entity rows are sampled (a stable hash of the entity key, so one key is always in or
always out and its history can be followed) and puts them on a bounded queue; a background
thread turns them into Parquet files. A full queue drops the sample and counts it, it never
blocks a lookup. ``PITSTOP_SERVING_LOG_RATE`` (default 0.05) sets the share of keys; 0 turns
logging off.

One Parquet row per (entity row, feature): ``request_time``, ``feature_service`` (or null),
``feature_refs`` (comma-separated, for lookups by refs), ``entity_key`` (JSON of the join keys),
``feature``, ``value`` (numbers as double; timestamps as epoch seconds), ``status`` and the
served ``event_timestamp``: what :mod:`.skew` needs to recompute the value offline.

The logger also counts every lookup and its latency (:class:`LookupStats`) for the status page.
"""

from __future__ import annotations

import atexit
import bisect
import datetime as dt
import json
import logging
import os
import queue
import threading
import time
import zlib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger("pitstop.monitoring")

REQUEST_DATA = frozenset({"request_time"})
LATENCY_BUCKETS_MS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 250.0, 1000.0)
_HASH_SPACE = 2**32


def sampled(entity_key: str, rate: float) -> bool:
    """Whether lookups of ``entity_key`` (its JSON) are logged: crc32 is stable across runs."""
    return rate > 0 and zlib.crc32(entity_key.encode()) < rate * _HASH_SPACE


@dataclass
class _Sample:
    request_time: dt.datetime
    feature_service: str | None
    feature_refs: str | None
    rows: list[tuple[str, list[tuple[str, Any, str, str | None]]]]


class LookupStats:
    """Every lookup's count and latency (not only the sampled ones), kept in memory."""

    def __init__(self, minutes: int = 60) -> None:
        self._lock = threading.Lock()
        self.lookups = 0
        self.entity_rows = 0
        self.latency_counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        self.per_minute: deque[list[int]] = deque(maxlen=minutes)  # [minute epoch, lookups]

    def add(self, rows: int, latency_seconds: float | None, now: float | None = None) -> None:
        minute = int((now or time.time()) // 60)
        with self._lock:
            self.lookups += 1
            self.entity_rows += rows
            if latency_seconds is not None:
                index = bisect.bisect_left(LATENCY_BUCKETS_MS, latency_seconds * 1000)
                self.latency_counts[index] += 1
            if self.per_minute and self.per_minute[-1][0] == minute:
                self.per_minute[-1][1] += 1
            else:
                self.per_minute.append([minute, 1])

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "lookups": self.lookups,
                "entity_rows": self.entity_rows,
                "latency_buckets_ms": list(LATENCY_BUCKETS_MS),
                "latency_counts": list(self.latency_counts),
                "per_minute": [list(item) for item in self.per_minute],
            }


class ServingLogger:
    """Samples lookups into Parquet under ``directory`` through a non-blocking buffer."""

    def __init__(
        self,
        directory: Path,
        rate: float,
        *,
        capacity: int = 10_000,
        flush_rows: int = 20_000,
        flush_seconds: float = 1.0,
    ) -> None:
        self.directory = directory
        self.rate = rate
        self.stats = LookupStats()
        self.dropped = 0
        self._queue: queue.Queue[_Sample | threading.Event] = queue.Queue(maxsize=capacity)
        self._flush_rows = flush_rows
        self._flush_seconds = flush_seconds
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._sequence = 0
        atexit.register(self.flush)

    def record(
        self,
        *,
        feature_service: str | None,
        feature_refs: Sequence[str],
        entities: Mapping[str, Sequence[Any]],
        request_time: dt.datetime,
        feature_names: Sequence[str],
        values: Sequence[Sequence[Any]],
        statuses: Sequence[Sequence[str]],
        event_timestamps: Sequence[Sequence[str]],
        latency_seconds: float | None = None,
    ) -> None:
        """Log one lookup: the request (service or refs, entity rows, time) and the response
        columns (``values[i]``, ``statuses[i]``, ``event_timestamps[i]`` of
        ``feature_names[i]``, join-key columns included or not). Returns at once."""
        keys = [name for name in entities if name not in REQUEST_DATA]
        rows = len(entities[keys[0]]) if keys else 0
        self.stats.add(rows, latency_seconds)
        if self.rate <= 0 or not keys:
            return
        picked: list[tuple[str, list[tuple[str, Any, str, str | None]]]] = []
        features = [i for i, name in enumerate(feature_names) if name not in entities]
        for row in range(rows):
            key = json.dumps({name: entities[name][row] for name in keys}, sort_keys=True)
            if not sampled(key, self.rate):
                continue
            picked.append(
                (
                    key,
                    [
                        (
                            feature_names[i],
                            values[i][row],
                            statuses[i][row],
                            event_timestamps[i][row] if event_timestamps[i] else None,
                        )
                        for i in features
                    ],
                )
            )
        if not picked:
            return
        sample = _Sample(
            request_time=request_time,
            feature_service=feature_service,
            feature_refs=",".join(feature_refs) if feature_refs else None,
            rows=picked,
        )
        self._ensure_thread()
        try:
            self._queue.put_nowait(sample)
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout: float = 10.0) -> None:
        """Write everything queued so far (tests, shutdown)."""
        if self._thread is None or not self._thread.is_alive():
            return
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return
        done.wait(timeout)

    # ---- the writer thread -------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._drain, name="pitstop-serving-log", daemon=True
                )
                self._thread.start()

    def _drain(self) -> None:
        pending: list[_Sample] = []
        pending_rows = 0
        deadline = time.monotonic() + self._flush_seconds
        while True:
            try:
                item = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                item = None
            if isinstance(item, _Sample):
                pending.append(item)
                pending_rows += len(item.rows)
            if (
                isinstance(item, threading.Event)
                or pending_rows >= self._flush_rows
                or time.monotonic() >= deadline
            ):
                if pending:
                    try:
                        self._write(pending)
                    except Exception:  # a log write must never take the API down
                        logger.exception("serving log: could not write %d lookups", len(pending))
                pending, pending_rows = [], 0
                deadline = time.monotonic() + self._flush_seconds
            if isinstance(item, threading.Event):
                item.set()

    def _write(self, samples: list[_Sample]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = _schema()
        by_day: dict[str, dict[str, list[Any]]] = {}
        for sample in samples:
            day = sample.request_time.astimezone(dt.timezone.utc).date().isoformat()
            columns = by_day.setdefault(day, {name: [] for name in schema.names})
            for key, features in sample.rows:
                for name, value, status, timestamp in features:
                    columns["request_time"].append(sample.request_time)
                    columns["feature_service"].append(sample.feature_service)
                    columns["feature_refs"].append(sample.feature_refs)
                    columns["entity_key"].append(key)
                    columns["feature"].append(name)
                    columns["value"].append(_number(value))
                    columns["status"].append(status)
                    columns["event_timestamp"].append(
                        _served_timestamp(timestamp) if status == "PRESENT" else None
                    )
        for day, columns in by_day.items():
            folder = self.directory / f"date={day}"
            folder.mkdir(parents=True, exist_ok=True)
            self._sequence += 1
            name = f"part-{time.time_ns()}-{os.getpid()}-{self._sequence}.parquet"
            table = pa.table(columns, schema=schema)
            pq.write_table(table, folder / (name + ".tmp"))
            os.replace(folder / (name + ".tmp"), folder / name)


def _schema() -> Any:
    import pyarrow as pa

    utc = pa.timestamp("us", tz="UTC")
    return pa.schema(
        [
            ("request_time", utc),
            ("feature_service", pa.string()),
            ("feature_refs", pa.string()),
            ("entity_key", pa.string()),
            ("feature", pa.string()),
            ("value", pa.float64()),
            ("status", pa.string()),
            ("event_timestamp", utc),
        ]
    )


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, (list, dict)):
        return None
    if isinstance(value, (bool, int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _served_timestamp(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def serving_log_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("date=*/part-*.parquet"))
