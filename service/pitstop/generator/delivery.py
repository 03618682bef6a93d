"""When each line arrives: the partition (arrival day) it lands in and its place in that file.

Most lines arrive on their event day, in event-time order. A late event arrives 1-5 days after
its event day; a duplicate is delivered again later the same day or 1-3 days later. Nothing ever
arrives after the last generated day: lateness is shortened to fit. Lines wait in an
:class:`ArrivalQueue` until their day's partition is written, so memory holds about one day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from pitstop.generator.behaviour import DAY_MS, HOUR_MS
from pitstop.generator.faults import DUPLICATE, LATE

MAX_LATENESS_DAYS = 5
MAX_DUPLICATE_DELAY_DAYS = 3
P_DUPLICATE_ON_A_LATER_DAY = 0.5


@dataclass(frozen=True)
class Deliveries:
    """Which line is sent when.

    Per delivery: the index of its line in ``lines``, the day index it arrives on, and a sort
    key for its place in that day's file. A duplicated line is simply delivered twice.
    """

    lines: pa.ChunkedArray
    line: npt.NDArray[np.int64]
    arrival_day: npt.NDArray[np.int64]
    arrival_ms: npt.NDArray[np.int64]


def schedule(
    rng: np.random.Generator,
    *,
    lines: pa.ChunkedArray,
    line_of_event: npt.NDArray[np.int64],
    event_day: npt.NDArray[np.int64],
    ts_ms: npt.NDArray[np.int64],
    plan: npt.NDArray[np.uint8],
    last_day: int,
    period_start_ms: int,
) -> Deliveries:
    """When each event's line arrives, and when the duplicate copies arrive."""
    arrival_ms = ts_ms.copy()
    arrival_day = event_day.copy()

    late = plan == LATE
    lateness = rng.integers(1, MAX_LATENESS_DAYS, size=int(late.sum()), endpoint=True)
    arrival_day[late] = np.minimum(event_day[late] + lateness, last_day)
    arrival_ms[late] = _some_time_on(rng, arrival_day[late], period_start_ms)

    copied = np.flatnonzero(plan == DUPLICATE)
    delay_days = rng.integers(1, MAX_DUPLICATE_DELAY_DAYS, size=len(copied), endpoint=True)
    on_later_day = rng.random(len(copied)) < P_DUPLICATE_ON_A_LATER_DAY
    copy_day = np.minimum(event_day[copied] + np.where(on_later_day, delay_days, 0), last_day)
    copy_ms = np.where(
        copy_day > event_day[copied],
        _some_time_on(rng, copy_day, period_start_ms),
        arrival_ms[copied] + rng.integers(1_000, HOUR_MS, size=len(copied)),
    )
    return Deliveries(
        lines=lines,
        line=np.concatenate([line_of_event, line_of_event[copied]]),
        arrival_day=np.concatenate([arrival_day, copy_day]),
        arrival_ms=np.concatenate([arrival_ms, copy_ms]),
    )


def _some_time_on(
    rng: np.random.Generator, day: npt.NDArray[np.int64], period_start_ms: int
) -> npt.NDArray[np.int64]:
    return period_start_ms + day * DAY_MS + rng.integers(0, DAY_MS, size=len(day))


@dataclass(frozen=True)
class _Waiting:
    lines: pa.ChunkedArray
    line: npt.NDArray[np.int64]
    arrival_ms: npt.NDArray[np.int64]


class ArrivalQueue:
    """Lines waiting for the partition of their arrival day.

    Lines due on the day being written stay where they were rendered (no copy); lines due later
    are copied out, so a day's rendered text is released once its partition is written.
    """

    def __init__(self) -> None:
        self._waiting: defaultdict[int, list[_Waiting]] = defaultdict(list)

    def add(self, deliveries: Deliveries, *, today: int) -> None:
        for day in np.unique(deliveries.arrival_day):
            picked = np.flatnonzero(deliveries.arrival_day == day)
            lines, line = deliveries.lines, deliveries.line[picked]
            if day != today:
                lines = lines.take(pa.array(line))
                line = np.arange(len(line), dtype=np.int64)
            self._waiting[int(day)].append(_Waiting(lines, line, deliveries.arrival_ms[picked]))

    def pop(self, day: int) -> tuple[pa.ChunkedArray, npt.NDArray[np.int64]]:
        """The lines arriving on ``day``, and the indexes of those to write, in arrival order.

        The order is stable, so equal arrival times keep the order the lines were added in and
        the same seed writes the same bytes.
        """
        waiting = self._waiting.pop(day, [])
        chunks: list[pa.Array] = []
        lines_before = 0
        line_parts = []
        for entry in waiting:
            chunks.extend(entry.lines.chunks)
            line_parts.append(entry.line + lines_before)
            lines_before += len(entry.lines)
        if not waiting:
            return pa.chunked_array([], type=pa.string()), np.empty(0, dtype=np.int64)
        line = np.concatenate(line_parts)
        order = np.argsort(np.concatenate([entry.arrival_ms for entry in waiting]), kind="stable")
        return pa.chunked_array(chunks, type=pa.string()), line[order]

    def __len__(self) -> int:
        return sum(len(entry.line) for entries in self._waiting.values() for entry in entries)
