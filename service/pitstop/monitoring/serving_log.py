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


def sampled(key_values: Sequence[Any], rate: float) -> bool:
    """Whether lookups of an entity key (its values in join-key name order) are logged: crc32
    of their text is stable across processes and runs, so a key is always in or always out."""
    text = "|".join([str(value) for value in key_values])
    return rate > 0 and zlib.crc32(text.encode()) < rate * _HASH_SPACE


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
        keys.sort()
        columns = [entities[name] for name in keys]
        threshold = self.rate * _HASH_SPACE
        # The hash input is cheap text; the JSON is built only for the sampled rows.
        texts = (
            [str(value) for value in columns[0]]
            if len(columns) == 1
            else ["|".join(map(str, row_values)) for row_values in zip(*columns, strict=True)]
        )
        crc32 = zlib.crc32
        chosen = [row for row, text in enumerate(texts) if crc32(text.encode()) < threshold]
        for row in chosen:
            key = json.dumps(
                {name: column[row] for name, column in zip(keys, columns, strict=True)}
            )
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

        by_day: dict[str, dict[str, list[Any]]] = {}
        for sample in samples:
            day = sample.request_time.astimezone(dt.timezone.utc).date().isoformat()
            columns = by_day.setdefault(day, {name: [] for name in _COLUMNS})
            count = sum(len(features) for _, features in sample.rows)
            columns["request_time"] += [sample.request_time] * count
            columns["feature_service"] += [sample.feature_service] * count
            columns["feature_refs"] += [sample.feature_refs] * count
            for key, features in sample.rows:
                columns["entity_key"] += [key] * len(features)
                for name, value, status, timestamp in features:
                    columns["feature"].append(name)
                    columns["value"].append(value)
                    columns["status"].append(status)
                    columns["event_timestamp"].append(timestamp if status == "PRESENT" else None)
        schema = _schema()
        for day, columns in by_day.items():
            arrays = {
                "request_time": pa.array(
                    columns["request_time"], schema.field("request_time").type
                ),
                "feature_service": pa.array(columns["feature_service"], pa.string()),
                "feature_refs": pa.array(columns["feature_refs"], pa.string()),
                "entity_key": pa.array(columns["entity_key"], pa.string()),
                "feature": pa.array(columns["feature"], pa.string()),
                "value": _numbers(columns["value"]),
                "status": pa.array(columns["status"], pa.string()),
                "event_timestamp": _timestamps(columns["event_timestamp"]),
            }
            self._write_file(day, pa.table(arrays, schema=schema))

    def _write_file(self, day: str, table: Any) -> None:
        import pyarrow.parquet as pq

        folder = self.directory / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        self._sequence += 1
        name = f"part-{time.time_ns()}-{os.getpid()}-{self._sequence}.parquet"
        pq.write_table(table, folder / (name + ".tmp"))
        os.replace(folder / (name + ".tmp"), folder / name)


_COLUMNS = (
    "request_time",
    "feature_service",
    "feature_refs",
    "entity_key",
    "feature",
    "value",
    "status",
    "event_timestamp",
)


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


def _numbers(values: list[Any]) -> Any:
    """Served values as float64 (timestamps are epoch seconds already); others become null."""
    import pyarrow as pa

    try:
        return pa.array(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return pa.array([_number(value) for value in values], pa.float64())


def _number(value: Any) -> float | None:
    if isinstance(value, (bool, int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _timestamps(texts: list[str | None]) -> Any:
    """RFC 3339 strings (``Z`` or an offset) to UTC timestamps; unparseable ones become null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    utc = pa.timestamp("us", tz="UTC")
    strings = pa.array(texts, pa.string())
    try:
        return pc.cast(strings, utc)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([_served_timestamp(text) for text in texts], utc)


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
