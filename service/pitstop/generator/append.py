"""``append_day``: the next day of an existing raw log, written next to the old partitions.

A daily pipeline needs a log that grows by one arrival partition at a time. This continues a log
written by :func:`~pitstop.generator.generate_events` (same users, items and seed, read from the
log's ``_generation.json``) by one day and adds only that day's partition; the old partitions
are never touched. The new partition holds, like a real day's delivery:

- the day's own events, with the usual faults (invalid lines, same-day duplicates);
- late events: a share ``late_share`` of them has an event time 1-5 days back, so they belong
  to days whose partitions were already delivered (and built);
- redeliveries: a share ``redelivery_share`` of lines copied from the previous 1-3 partitions
  (duplicates crossing the day boundary; the first delivery, in the older partition, wins).

Event and session numbers of an appended day start at ``day_index << 40``, so their ids never
collide with those of the original run or of another appended day.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from pitstop.build.arrivals import partition_day
from pitstop.build.raw_files import open_raw, raw_file_paths
from pitstop.errors import ConfigurationError, MissingInputError
from pitstop.generator.delivery import MAX_DUPLICATE_DELAY_DAYS
from pitstop.generator.population import draw_catalogue, draw_population
from pitstop.generator.render import IdScheme
from pitstop.generator.report import GenerationReport
from pitstop.generator.run import (
    _FIRST_DAY_STREAM,
    _ID_STREAM,
    _POPULATION_STREAM,
    GENERATION_FILE,
    USERS_PER_BLOCK,
    _check_arguments,
    _LogInProgress,
    _stream,
)
from pitstop.generator.writer import RawLogWriter
from pitstop.settings import Settings

# Spawn key (after the day) of the stream that picks the redelivered lines.
_REDELIVERY_STREAM = 1_000_000
# Redelivered lines are sampled from the head of each earlier partition's first part file.
_SAMPLE_BYTES = 8 * 1024 * 1024
_NUMBERS_PER_DAY_SHIFT = 40


def append_day(
    settings: Settings,
    *,
    day: date | None = None,
    dirty_rate: float = 0.002,
    late_share: float = 0.01,
    redelivery_share: float = 0.002,
    progress: bool = True,
) -> GenerationReport:
    """Add the arrival partition of ``day`` (default: the day after the newest one).

    Raises :class:`MissingInputError` when there is no generated log to continue and
    :class:`ConfigurationError` when ``day`` is not after the newest partition.
    """
    began = time.perf_counter()
    raw_dir = settings.raw_events_dir
    record = _generation_record(raw_dir)
    users, seed, start = (
        int(record["users"]),
        int(record["seed"]),
        date.fromisoformat(str(record["start"])),
    )
    newest = max(_partition_days(raw_dir), default=None)
    if newest is None:
        raise MissingInputError(f"no partitions under {raw_dir}; run `pitstop generate` first")
    day = day or newest + timedelta(days=1)
    if day <= newest:
        raise ConfigurationError(f"the log already reaches {newest}; append a later day than {day}")
    _check_arguments(users=users, days=1, seed=seed, start=start, dirty_rate=dirty_rate)
    for name, share in (("late_share", late_share), ("redelivery_share", redelivery_share)):
        if not 0 <= share < 1:
            raise ConfigurationError(f"{name} must be at least 0 and below 1, got {share!r}")

    index = (day - start).days
    population_rng = np.random.default_rng(_stream(seed, _POPULATION_STREAM))
    population = draw_population(population_rng, users, int(record["days"]))
    catalogue = draw_catalogue(population_rng, users)
    log = _LogInProgress(
        start=start,
        days=index + 1,
        dirty_rate=dirty_rate,
        catalogue=catalogue,
        ids=IdScheme.from_stream(_stream(seed, _ID_STREAM)),
    )
    log.next_event = log.next_session = index << _NUMBERS_PER_DAY_SHIFT
    blocks = range(0, users, USERS_PER_BLOCK)
    # (a log from before the gzip option has no such entry: it was plain)
    with RawLogWriter(raw_dir, gzip=bool(record.get("gzip", False))) as writer:
        for block, first_user in enumerate(
            tqdm(
                blocks, desc=f"appending {day}", unit="block", file=sys.stderr, disable=not progress
            )
        ):
            rng = np.random.default_rng(_stream(seed, _FIRST_DAY_STREAM + index, block))
            users_in_block = population.block(first_user, first_user + USERS_PER_BLOCK)
            log.simulate(rng, index, users_in_block, backdate_share=late_share)
            arrived, in_order = log.queue.pop(index)
            writer.write_lines(day, arrived, in_order)
            log.lines_written += len(in_order)
        rng = np.random.default_rng(_stream(seed, _FIRST_DAY_STREAM + index, _REDELIVERY_STREAM))
        copies = _redelivered_lines(rng, raw_dir, day, round(redelivery_share * log.lines_written))
        if copies:
            writer.write_lines(day, pa.chunked_array([pa.array(copies)]), np.arange(len(copies)))
            log.lines_written += len(copies)
            log.faults["duplicate_delivery"] += len(copies)
        writer.close_partition(day)
        if len(log.queue):
            raise AssertionError("lines left undelivered after the appended day")
        files = writer.commit(append=True)

    return GenerationReport(
        start=day,
        end=day,
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


def _generation_record(raw_dir: Path) -> dict[str, str | int]:
    path = raw_dir / GENERATION_FILE
    try:
        record: dict[str, str | int] = json.loads(path.read_text())
    except FileNotFoundError:
        raise MissingInputError(
            f"no {GENERATION_FILE} under {raw_dir}; append continues a log written by "
            "`pitstop generate`"
        ) from None
    return record


def _partition_days(raw_dir: Path) -> list[date]:
    if not raw_dir.is_dir():
        return []
    days = [partition_day(folder.name) for folder in raw_dir.iterdir() if folder.is_dir()]
    return [day for day in days if day is not None]


def _redelivered_lines(rng: np.random.Generator, raw_dir: Path, day: date, count: int) -> list[str]:
    """``count`` lines sent again from the previous 1-3 partitions (valid JSON objects only)."""
    pool: list[str] = []
    for back in range(1, MAX_DUPLICATE_DELAY_DAYS + 1):
        folder = raw_dir / f"date={day - timedelta(days=back):%Y-%m-%d}"
        for path in raw_file_paths(folder)[:1]:
            with open_raw(path) as file:
                head = file.read(_SAMPLE_BYTES)
            lines = head.split(b"\n")[:-1]  # the last piece may be cut short
            pool.extend(line.decode() + "\n" for line in lines if _looks_valid(line))
    if not pool or count == 0:
        return []
    picked = rng.choice(len(pool), size=min(count, len(pool)), replace=False)
    return [pool[i] for i in sorted(picked)]


def _looks_valid(line: bytes) -> bool:
    try:
        document = json.loads(line)
    except ValueError:
        return False
    return isinstance(document, dict) and isinstance(document.get("event_id"), str)
