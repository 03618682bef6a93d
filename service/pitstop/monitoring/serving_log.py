"""Serving logs: a sample of online lookups, written to ``<data>/logs/serving/`` as Parquet.

The lookup path calls :meth:`ServingLogger.record` once per request. That call only decides
which entity rows are sampled (a stable hash of the entity key, so one key is always in or
always out and its history can be followed) and sends them, pickled, to a writer process
(:mod:`.serving_log_writer`) that turns them into Parquet files. The socket to it is the
bounded buffer: when it is full the sample is dropped and counted, a lookup never waits.
``PITSTOP_SERVING_LOG_RATE`` (default 0.05) sets the share of keys; 0 turns logging off.

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
import pickle
import select
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pitstop.monitoring.serving_log_writer import (
    FLUSH_MESSAGE,
    FLUSHED_REPLY,
    SAMPLE_MESSAGE,
    Sample,
)

REQUEST_DATA = frozenset({"request_time"})
LATENCY_BUCKETS_MS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 250.0, 1000.0)
_HASH_SPACE = 2**32
# Sampled entity rows per message: a 1,000-entity lookup logged in full stays far below the
# socket's message size limit.
_ROWS_PER_MESSAGE = 50
# The writer process's entry point (``-m`` would warn: the package imports the module first).
_WRITER_MAIN = (
    "import sys; from pitstop.monitoring.serving_log_writer import main; "
    "sys.exit(main(sys.argv[1:]))"
)


def sampled(key_values: Sequence[Any], rate: float) -> bool:
    """Whether lookups of an entity key (its values in join-key name order) are logged: crc32
    of their text is stable across processes and runs, so a key is always in or always out."""
    text = "|".join([str(value) for value in key_values])
    return rate > 0 and zlib.crc32(text.encode()) < rate * _HASH_SPACE


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
    """Samples lookups into Parquet under ``directory`` through a non-blocking buffer.

    The buffer is a socket to a writer process (:mod:`.serving_log_writer`), started on the
    first sampled lookup (or by :meth:`start`); its size is ``capacity_bytes`` (the kernel may
    cap it). A lookup pickles its sampled rows and sends them without waiting: a full buffer
    or a writer that is gone drops the sample and counts it in ``dropped``.
    """

    def __init__(
        self,
        directory: Path,
        rate: float,
        *,
        capacity_bytes: int = 4 << 20,
        flush_rows: int = 20_000,
        flush_seconds: float = 1.0,
    ) -> None:
        self.directory = directory
        self.rate = rate
        self.stats = LookupStats()
        self.dropped = 0
        self._capacity_bytes = capacity_bytes
        self._flush_rows = flush_rows
        self._flush_seconds = flush_seconds
        self._socket: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # start, flush and close; never taken by record()
        self._closed = False
        atexit.register(self.close, 5.0)

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
        refs = ",".join(feature_refs) if feature_refs else None
        for first in range(0, len(picked), _ROWS_PER_MESSAGE):
            sample: Sample = (
                request_time,
                feature_service,
                refs,
                picked[first : first + _ROWS_PER_MESSAGE],
            )
            self._send(SAMPLE_MESSAGE + pickle.dumps(sample, pickle.HIGHEST_PROTOCOL))

    def _send(self, message: bytes) -> None:
        connection = self._socket or self.start()
        if connection is None:  # closed: the API is shutting down
            self.dropped += 1
            return
        try:
            connection.send(message)
        except OSError:  # full (BlockingIOError), too large, or the writer is gone
            self.dropped += 1

    def start(self) -> socket.socket | None:
        """Start the writer process (once); the socket to it (None once closed)."""
        with self._lock:
            if self._socket is None and not self._closed:
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._capacity_bytes)
                ours.setblocking(False)
                command = [
                    sys.executable,
                    "-c",
                    _WRITER_MAIN,
                    str(theirs.fileno()),
                    str(self.directory),
                    str(self._flush_rows),
                    str(self._flush_seconds),
                ]
                self._process = subprocess.Popen(command, pass_fds=[theirs.fileno()])
                theirs.close()
                self._socket = ours
            return self._socket

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything sent so far is on disk (tests, shutdown). False on timeout."""
        with self._lock:
            connection = self._socket
            if connection is None:
                return True
            deadline = time.monotonic() + timeout
            while True:
                try:
                    connection.send(FLUSH_MESSAGE)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        return False
                    select.select([], [connection], [], max(deadline - time.monotonic(), 0))
                except OSError:
                    return False
            while True:
                readable, _, _ = select.select(
                    [connection], [], [], max(deadline - time.monotonic(), 0)
                )
                if not readable:
                    return False
                try:
                    return connection.recv(16) == FLUSHED_REPLY
                except BlockingIOError:
                    continue
                except OSError:
                    return False

    def close(self, timeout: float = 10.0) -> None:
        """Write what is pending and stop the writer process."""
        self.flush(timeout)
        with self._lock:
            self._closed = True
            if self._socket is not None:
                self._socket.close()  # the writer writes what is left and exits
                self._socket = None
            if self._process is not None:
                try:
                    self._process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                self._process = None


def serving_log_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("date=*/part-*.parquet"))
