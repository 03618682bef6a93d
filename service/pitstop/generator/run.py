"""``generate_events``: a synthetic raw event log, one simulated day at a time.

Each day is simulated, rendered, faulted and routed to the partition of the day it arrives on;
a partition is written as soon as no later day can add to it (lines never arrive before their
event day), so memory holds about one day of events whatever the length of the period. A day of
a very large population is simulated in blocks of users, each block written as its own part
file, so memory stays bounded by the block, not by the day.

Each day (and block) draws from its own random stream derived from the seed, so the same
arguments write the same bytes.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from pitstop.errors import ConfigurationError
from pitstop.generator import vocab
from pitstop.generator.behaviour import DAY_MS, EventBatch, simulate_day
from pitstop.generator.delivery import MAX_LATENESS_DAYS, ArrivalQueue, schedule
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
from pitstop.generator.population import Catalogue, Population, draw_catalogue, draw_population
from pitstop.generator.render import IdScheme, render_lines
from pitstop.generator.report import GenerationReport
from pitstop.generator.writer import RawLogWriter
from pitstop.settings import Settings

MAX_DIRTY_RATE = 0.5
# Users simulated together: about 1.5M lines on a busy day, at most a few GB of memory.
USERS_PER_BLOCK = 500_000
_EPOCH = date(1970, 1, 1)
_NON_ZERO_OFFSET = np.array([minutes != 0 for minutes in vocab.COUNTRY_UTC_OFFSET_MINUTES])
# Spawn keys of the random streams: one for the population, one for ids, then (day, block).
_POPULATION_STREAM, _ID_STREAM, _FIRST_DAY_STREAM = 0, 1, 2
# What a generation was asked for, kept next to the partitions so `append_day` can continue it.
GENERATION_FILE = "_generation.json"


def generate_events(
    settings: Settings,
    *,
    users: int,
    days: int,
    seed: int,
    start: date | None = None,
    dirty_rate: float = 0.002,
    gzip: bool = False,
    progress: bool = True,
) -> GenerationReport:
    """Write a raw event log of ``users`` users over ``days`` days to ``settings.raw_events_dir``.

    With ``gzip`` the part files are ``.jsonl.gz``: the same lines, compressed (a later
    :func:`~pitstop.generator.append_day` keeps to it).

    ``start`` is the first event day; by default the last day is yesterday (UTC). A share
    ``dirty_rate`` of the lines carries a fault (see :mod:`pitstop.generator.faults`). The whole
    log is replaced, never appended to. A progress bar goes to stderr unless ``progress`` is off.
    """
    began = time.perf_counter()
    _check_arguments(users=users, days=days, seed=seed, start=start, dirty_rate=dirty_rate)
    if start is None:
        start = datetime.now(timezone.utc).date() - timedelta(days=days)
    population_rng = np.random.default_rng(_stream(seed, _POPULATION_STREAM))
    population = draw_population(population_rng, users, days)
    catalogue = draw_catalogue(population_rng, users)
    log = _LogInProgress(
        start=start,
        days=days,
        dirty_rate=dirty_rate,
        catalogue=catalogue,
        ids=IdScheme.from_stream(_stream(seed, _ID_STREAM)),
    )
    with RawLogWriter(settings.raw_events_dir, gzip=gzip) as writer:
        for day in tqdm(
            range(days), desc="generating events", unit="day", file=sys.stderr, disable=not progress
        ):
            arrival_day = start + timedelta(days=day)
            for block, first_user in enumerate(range(0, users, USERS_PER_BLOCK)):
                rng = np.random.default_rng(_stream(seed, _FIRST_DAY_STREAM + day, block))
                users_in_block = population.block(first_user, first_user + USERS_PER_BLOCK)
                log.simulate(rng, day, users_in_block)
                arrived, in_order = log.queue.pop(day)
                writer.write_lines(arrival_day, arrived, in_order)
                log.lines_written += len(in_order)
            writer.close_partition(arrival_day)
        if len(log.queue):
            raise AssertionError("lines left undelivered after the last day")
        files = writer.commit()
    record = {
        "users": users,
        "days": days,
        "seed": seed,
        "start": start.isoformat(),
        "gzip": gzip,
    }
    (settings.raw_events_dir / GENERATION_FILE).write_text(json.dumps(record, indent=2) + "\n")

    return GenerationReport(
        start=start,
        end=start + timedelta(days=days - 1),
        users=users,
        items=catalogue.size,
        seed=seed,
        dirty_rate=dirty_rate,
        lines_written=log.lines_written,
        clean_events=log.clean_events,
        faults=dict(log.faults),
        files=files,
        seconds=time.perf_counter() - began,
    )


def _stream(seed: int, *key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=key)


class _LogInProgress:
    """The running state of a generation: numbering, lines waiting to arrive, counts so far."""

    def __init__(
        self,
        *,
        start: date,
        days: int,
        dirty_rate: float,
        catalogue: Catalogue,
        ids: IdScheme,
    ) -> None:
        self.start = start
        self.last_day = days - 1
        self.period_start_ms = (start - _EPOCH).days * DAY_MS
        self.dirty_rate = dirty_rate
        self.catalogue = catalogue
        self.ids = ids
        self.queue = ArrivalQueue()
        self.next_event = 0
        self.next_session = 0
        self.lines_written = 0
        self.clean_events = 0
        self.faults: Counter[str] = Counter({kind: 0 for kind in FAULT_KINDS})

    def simulate(
        self,
        rng: np.random.Generator,
        day: int,
        users: Population,
        *,
        backdate_share: float = 0.0,
    ) -> None:
        """Simulate ``users`` on ``day`` and queue their lines for the days they arrive on.

        ``backdate_share`` (used when a day is appended to an existing log) moves that share of
        the day's events 1-5 days back in event time while they still arrive on ``day``: late
        events whose event day lies in partitions that were already delivered.
        """
        events, sessions = simulate_day(
            rng,
            day=day,
            day_start_ms=self.period_start_ms + day * DAY_MS,
            weekend=(self.start + timedelta(days=day)).weekday() >= 5,
            population=users,
            catalogue=self.catalogue,
            first_session=self.next_session,
        )
        self.next_session += sessions
        backdated = np.zeros(len(events), dtype=np.bool_)
        if backdate_share > 0:
            events, backdated = _backdated(
                rng, events, backdate_share, floor_ms=self.period_start_ms
            )
        # Sessions running past the last midnight and refunds after it would arrive too late.
        event_day = (events.ts_ms - self.period_start_ms) // DAY_MS
        in_period = event_day <= self.last_day
        events, event_day = events.select(in_period), event_day[in_period]
        backdated = backdated[in_period]

        plan = plan_faults(
            rng, events, event_day=event_day, last_day=self.last_day, dirty_rate=self.dirty_rate
        )
        numbers = np.arange(self.next_event, self.next_event + len(events), dtype=np.int64)
        self.next_event += len(events)
        lines, line_of_event = corrupt_lines(rng, render_lines(events, numbers, self.ids), plan)
        deliveries = schedule(
            rng,
            lines=lines,
            line_of_event=line_of_event,
            event_day=event_day,
            ts_ms=events.ts_ms,
            plan=plan,
            last_day=self.last_day,
            period_start_ms=self.period_start_ms,
        )
        if backdate_share > 0:
            # backdated events still arrive today, at the time they were sent
            day_start_ms = self.period_start_ms + day * DAY_MS
            deliveries = replace(
                deliveries,
                arrival_day=np.maximum(deliveries.arrival_day, day),
                arrival_ms=np.maximum(deliveries.arrival_ms, day_start_ms),
            )
        self.queue.add(deliveries, today=day)
        self._count(events, plan)
        self.faults["late_arrival"] += int(
            np.count_nonzero(backdated & ((plan == CLEAN) | (plan == DUPLICATE)))
        )

    def _count(self, events: EventBatch, plan: npt.NDArray[np.uint8]) -> None:
        for kind in (*INVALID_KINDS, "duplicate_delivery", "late_arrival"):
            self.faults[kind] += int(np.count_nonzero(plan == KIND_CODE[kind]))
        clean = (plan == CLEAN) | (plan == DUPLICATE) | (plan == LATE)
        local = clean & (events.ts_style == vocab.TS_LOCAL)
        self.faults["mixed_offset"] += int(
            np.count_nonzero(local & _NON_ZERO_OFFSET[events.country])
        )
        self.faults["no_offset"] += int(
            np.count_nonzero(clean & (events.ts_style == vocab.TS_NAIVE))
        )
        self.clean_events += int(np.count_nonzero(clean))


def _backdated(
    rng: np.random.Generator, events: EventBatch, share: float, *, floor_ms: int
) -> tuple[EventBatch, npt.NDArray[np.bool_]]:
    """``events`` with a share of them moved 1-5 whole days back (never before ``floor_ms``),
    and which ones were moved."""
    picked = rng.random(len(events)) < share
    lateness = rng.integers(1, MAX_LATENESS_DAYS, size=int(picked.sum()), endpoint=True)
    ts_ms = events.ts_ms.copy()
    ts_ms[picked] = np.maximum(ts_ms[picked] - lateness * DAY_MS, floor_ms)
    return replace(events, ts_ms=ts_ms), picked


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
