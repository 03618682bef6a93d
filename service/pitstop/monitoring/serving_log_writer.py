"""The serving log's writer process: sampled lookups from the API, written as Parquet.

    main([FD, DIRECTORY, FLUSH_ROWS, FLUSH_SECONDS])

:class:`~pitstop.monitoring.serving_log.ServingLogger` starts it and keeps the other end of a
``SOCK_SEQPACKET`` socket pair (file descriptor ``FD`` here). Each message is one sample
(``S`` + a pickled :data:`Sample`) or a flush request (``F``), answered with ``K`` once
everything received before it is on disk. Samples are gathered and written every
``FLUSH_SECONDS`` or ``FLUSH_ROWS`` rows, one file per UTC day of the request time. The process
runs at a lower priority and exits, after a last write, when the API's end of the socket closes
(the API stopped or died).

Why a process and not a thread: turning thousands of Python values into Arrow columns holds
the GIL for milliseconds, and a lookup thread waiting for it is the p99 of a 100-entity lookup.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import pickle
import select
import socket
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger("pitstop.monitoring")

# (request_time, feature_service, feature_refs, [(entity_key JSON, [(feature, value, status,
#  served event timestamp or None), ...]), ...])
Sample = tuple[
    dt.datetime, str | None, str | None, list[tuple[str, list[tuple[str, Any, str, str | None]]]]
]

SAMPLE_MESSAGE = b"S"
FLUSH_MESSAGE = b"F"
FLUSHED_REPLY = b"K"
# Larger than any message: the API's socket buffer (at most the kernel's wmem_max, doubled)
# caps what one send can carry.
_RECEIVE_BYTES = 8 << 20

COLUMNS = (
    "request_time",
    "feature_service",
    "feature_refs",
    "entity_key",
    "feature",
    "value",
    "status",
    "event_timestamp",
)


def main(argv: list[str]) -> int:
    fd, directory, flush_rows, flush_seconds = argv
    os.nice(10)  # the lookups come first
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    connection = socket.socket(fileno=int(fd))
    connection.setblocking(True)
    run(connection, Path(directory), int(flush_rows), float(flush_seconds))
    return 0


def run(connection: socket.socket, directory: Path, flush_rows: int, flush_seconds: float) -> None:
    """Receive until the other end closes; write every ``flush_seconds`` or ``flush_rows``."""
    buffer = bytearray(_RECEIVE_BYTES)
    view = memoryview(buffer)
    pending: list[Sample] = []
    pending_rows = 0
    deadline = time.monotonic() + flush_seconds
    while True:
        ready, _, _ = select.select([connection], [], [], max(deadline - time.monotonic(), 0))
        message = b""
        if ready:
            size = connection.recv_into(buffer)
            if size == 0:  # the API closed its end
                _write_safely(directory, pending)
                return
            message = bytes(view[:size])
            if message[:1] == SAMPLE_MESSAGE:
                sample: Sample = pickle.loads(message[1:])
                pending.append(sample)
                pending_rows += sum(len(features) for _, features in sample[3])
        flush_asked = message[:1] == FLUSH_MESSAGE
        if flush_asked or pending_rows >= flush_rows or time.monotonic() >= deadline:
            _write_safely(directory, pending)
            pending, pending_rows = [], 0
            deadline = time.monotonic() + flush_seconds
        if flush_asked:
            connection.sendall(FLUSHED_REPLY)


def _write_safely(directory: Path, samples: list[Sample]) -> None:
    if not samples:
        return
    try:
        write_samples(directory, samples)
    except Exception:  # a bad batch is reported and skipped; the log goes on
        logger.exception("serving log: could not write %d lookups", len(samples))


def write_samples(directory: Path, samples: list[Sample]) -> None:
    """One Parquet file per UTC day of the samples' request times, under ``date=DAY/``."""
    import pyarrow as pa

    by_day: dict[str, dict[str, list[Any]]] = {}
    for request_time, feature_service, feature_refs, rows in samples:
        day = request_time.astimezone(dt.timezone.utc).date().isoformat()
        columns = by_day.setdefault(day, {name: [] for name in COLUMNS})
        count = sum(len(features) for _, features in rows)
        columns["request_time"] += [request_time] * count
        columns["feature_service"] += [feature_service] * count
        columns["feature_refs"] += [feature_refs] * count
        for key, features in rows:
            columns["entity_key"] += [key] * len(features)
            for name, value, status, timestamp in features:
                columns["feature"].append(name)
                columns["value"].append(value)
                columns["status"].append(status)
                columns["event_timestamp"].append(timestamp if status == "PRESENT" else None)
    schema = _schema()
    for day, columns in by_day.items():
        arrays = {
            "request_time": pa.array(columns["request_time"], schema.field("request_time").type),
            "feature_service": pa.array(columns["feature_service"], pa.string()),
            "feature_refs": pa.array(columns["feature_refs"], pa.string()),
            "entity_key": pa.array(columns["entity_key"], pa.string()),
            "feature": pa.array(columns["feature"], pa.string()),
            "value": _numbers(columns["value"]),
            "status": pa.array(columns["status"], pa.string()),
            "event_timestamp": _timestamps(columns["event_timestamp"]),
        }
        _write_file(directory, day, pa.table(arrays, schema=schema))


def _write_file(directory: Path, day: str, table: Any) -> None:
    import pyarrow.parquet as pq

    folder = directory / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"part-{time.time_ns()}-{os.getpid()}.parquet"
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
