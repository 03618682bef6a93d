"""``generate_events``: a synthetic raw event log, one simulated day at a time.

Each day is simulated, rendered, faulted and routed to the partition of the day it arrives on;
a partition is written as soon as no later day can add to it (lines never arrive before their
event day), so memory holds about one day of events whatever the length of the period.

Each day draws from its own random stream spawned from the seed, so the same arguments write
the same bytes.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import numpy as np
from tqdm import tqdm

from pitstop.errors import ConfigurationError
from pitstop.generator import vocab
from pitstop.generator.behaviour import DAY_MS, EventBatch, simulate_day
from pitstop.generator.delivery import ArrivalQueue, schedule
from pitstop.generator.faults import (
    CLEAN,
    DUPLICATE,
    FAULT_KINDS,
    INVALID_KINDS,
    KIND_CODE,
    LATE,
    corrupt_lines,
    plan_faults,
)
from pitstop.generator.population import draw_catalogue, draw_population
from pitstop.generator.render import IdScheme, render_lines
from pitstop.generator.report import GenerationReport
from pitstop.generator.writer import RawLogWriter
from pitstop.settings import Settings

MAX_DIRTY_RATE = 0.5
_EPOCH = date(1970, 1, 1)
_NON_ZERO_OFFSET = np.array([m != 0 for m in vocab.COUNTRY_UTC_OFFSET_MINUTES])


def generate_events(
    settings: Settings,
    *,
    users: int,
    days: int,
    seed: int,
    start: date | None = None,
    dirty_rate: float = 0.002,
    progress: bool = True,
) -> GenerationReport:
    """Write a raw event log of ``users`` users over ``days`` days to ``settings.raw_events_dir``.

    ``start`` is the first event day; by default the last day is yesterday (UTC). A share
    ``dirty_rate`` of the lines carries a fault (see :mod:`pitstop.generator.faults`). The whole
    log is replaced, never appended to. A progress bar goes to stderr unless ``progress`` is off.
    """
    began = time.perf_counter()
    _check_arguments(users=users, days=days, seed=seed, start=start, dirty_rate=dirty_rate)
    if start is None:
        start = datetime.now(timezone.utc).date() - timedelta(days=days)
    last_day = days - 1
    period_start_ms = (start - _EPOCH).days * DAY_MS

    streams = np.random.SeedSequence(seed).spawn(2 + days)
    population_rng = np.random.default_rng(streams[0])
    population = draw_population(population_rng, users, days)
    catalogue = draw_catalogue(population_rng, users)
    ids = IdScheme.from_stream(streams[1])

    counts: Counter[str] = Counter({kind: 0 for kind in FAULT_KINDS})
    clean_events = lines_written = next_event = next_session = 0
    queue = ArrivalQueue()
    with RawLogWriter(settings.raw_events_dir) as writer:
        bar = tqdm(
            range(days), desc="generating events", unit="day", file=sys.stderr, disable=not progress
        )
        for day in bar:
            rng = np.random.default_rng(streams[2 + day])
            events, sessions = simulate_day(
                rng,
                day=day,
                day_start_ms=period_start_ms + day * DAY_MS,
                weekend=(start + timedelta(days=day)).weekday() >= 5,
                population=population,
                catalogue=catalogue,
                first_session=next_session,
            )
            next_session += sessions
            event_day = (events.ts_ms - period_start_ms) // DAY_MS
            in_period = event_day <= last_day
            events, event_day = events.select(in_period), event_day[in_period]

            plan = plan_faults(
                rng, events, event_day=event_day, last_day=last_day, dirty_rate=dirty_rate
            )
            numbers = np.arange(next_event, next_event + len(events), dtype=np.int64)
            next_event += len(events)
            lines, line_of_event = corrupt_lines(rng, render_lines(events, numbers, ids), plan)
            queue.add(
                schedule(
                    rng,
                    lines=lines,
                    line_of_event=line_of_event,
                    event_day=event_day,
                    ts_ms=events.ts_ms,
                    plan=plan,
                    last_day=last_day,
                    period_start_ms=period_start_ms,
                ),
                today=day,
            )
            clean_events += _count_faults(counts, events, plan)

            arrived, in_order = queue.pop(day)
            writer.write_partition(start + timedelta(days=day), arrived, in_order)
            lines_written += len(in_order)
            bar.set_postfix(lines=lines_written, refresh=False)
        bar.close()
        if len(queue):
            raise AssertionError("lines left undelivered after the last day")
        files = writer.commit()

    return GenerationReport(
        start=start,
        end=start + timedelta(days=last_day),
        users=users,
        items=catalogue.size,
        seed=seed,
        dirty_rate=dirty_rate,
        lines_written=lines_written,
        clean_events=clean_events,
        faults=dict(counts),
        files=files,
        seconds=time.perf_counter() - began,
    )


def _count_faults(counts: Counter[str], events: EventBatch, plan: np.ndarray) -> int:
    """Add a day's faults to ``counts``; return its number of clean (valid, distinct) events."""
    for kind in (*INVALID_KINDS, "duplicate_delivery", "late_arrival"):
        counts[kind] += int(np.count_nonzero(plan == KIND_CODE[kind]))
    clean = (plan == CLEAN) | (plan == DUPLICATE) | (plan == LATE)
    local = clean & (events.ts_style == vocab.TS_LOCAL)
    counts["mixed_offset"] += int(np.count_nonzero(local & _NON_ZERO_OFFSET[events.country]))
    counts["no_offset"] += int(np.count_nonzero(clean & (events.ts_style == vocab.TS_NAIVE)))
    return int(np.count_nonzero(clean))


def _check_arguments(
    *, users: int, days: int, seed: int, start: date | None, dirty_rate: float
) -> None:
    for name, value in (("users", users), ("days", days)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigurationError(f"{name} must be a positive whole number, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigurationError(f"seed must be a whole number >= 0, got {seed!r}")
    if start is not None and (isinstance(start, datetime) or not isinstance(start, date)):
        raise ConfigurationError(f"start must be a date (YYYY-MM-DD), got {start!r}")
    rate_is_number = isinstance(dirty_rate, (int, float)) and not isinstance(dirty_rate, bool)
    if not rate_is_number or not 0 <= dirty_rate < MAX_DIRTY_RATE:
        raise ConfigurationError(
            f"dirty_rate must be at least 0 and below {MAX_DIRTY_RATE}, got {dirty_rate!r}"
        )
