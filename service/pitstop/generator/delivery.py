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
    """Lines with the day index they arrive on and a sort key for their place in the file."""

    lines: pa.ChunkedArray
    arrival_day: npt.NDArray[np.int64]
    arrival_ms: npt.NDArray[np.int64]


def schedule(
    rng: np.random.Generator,
    *,
    lines: pa.ChunkedArray,
    rows: npt.NDArray[np.intp],
    event_day: npt.NDArray[np.int64],
    ts_ms: npt.NDArray[np.int64],
    plan: npt.NDArray[np.uint8],
    last_day: int,
    period_start_ms: int,
) -> Deliveries:
    """Arrival of each line (``rows`` maps lines to events), plus the duplicate copies."""
    day = event_day[rows]
    arrival_ms = ts_ms[rows].copy()
    arrival_day = day.copy()

    late = plan[rows] == LATE
    lateness = rng.integers(1, MAX_LATENESS_DAYS, size=int(late.sum()), endpoint=True)
    arrival_day[late] = np.minimum(day[late] + lateness, last_day)
    arrival_ms[late] = _some_time_on(rng, arrival_day[late], period_start_ms)

    copied = np.flatnonzero(plan[rows] == DUPLICATE)
    delay_days = rng.integers(1, MAX_DUPLICATE_DELAY_DAYS, size=len(copied), endpoint=True)
    on_later_day = rng.random(len(copied)) < P_DUPLICATE_ON_A_LATER_DAY
    copy_day = np.minimum(day[copied] + np.where(on_later_day, delay_days, 0), last_day)
    copy_ms = np.where(
        copy_day > day[copied],
        _some_time_on(rng, copy_day, period_start_ms),
        arrival_ms[copied] + rng.integers(1_000, HOUR_MS, size=len(copied)),
    )
    copies = lines.take(pa.array(copied)).chunks
    return Deliveries(
        lines=pa.chunked_array([*lines.chunks, *copies], type=pa.string()),
        arrival_day=np.concatenate([arrival_day, copy_day]),
        arrival_ms=np.concatenate([arrival_ms, copy_ms]),
    )


def _some_time_on(
    rng: np.random.Generator, day: npt.NDArray[np.int64], period_start_ms: int
) -> npt.NDArray[np.int64]:
    return period_start_ms + day * DAY_MS + rng.integers(0, DAY_MS, size=len(day))


class ArrivalQueue:
    """Lines waiting for the partition of their arrival day."""

    def __init__(self) -> None:
        self._waiting: defaultdict[int, list[tuple[npt.NDArray[np.int64], pa.ChunkedArray]]]
        self._waiting = defaultdict(list)

    def add(self, deliveries: Deliveries) -> None:
        for day in np.unique(deliveries.arrival_day):
            picked = np.flatnonzero(deliveries.arrival_day == day)
            self._waiting[int(day)].append(
                (deliveries.arrival_ms[picked], deliveries.lines.take(pa.array(picked)))
            )

    def pop(self, day: int) -> tuple[pa.ChunkedArray, npt.NDArray[np.intp]]:
        """The lines arriving on ``day`` and the order to write them in (by arrival time).

        The order is stable, so equal arrival times keep the order the lines were added in and
        the same seed writes the same bytes.
        """
        waiting = self._waiting.pop(day, [])
        lines = pa.chunked_array(
            [chunk for _, day_lines in waiting for chunk in day_lines.chunks], type=pa.string()
        )
        arrival_ms = np.concatenate([ms for ms, _ in waiting]) if waiting else np.empty(0, np.int64)
        return lines, np.argsort(arrival_ms, kind="stable")

    def __len__(self) -> int:
        return sum(len(lines) for entries in self._waiting.values() for _, lines in entries)
