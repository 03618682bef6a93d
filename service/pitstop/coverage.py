"""How far each feature table's data reaches, and when a view's values go stale.

Staleness is a property of the table, not of each row (docs/architecture.md §3, "Staleness"):
the sparse snapshots have a row wherever a value changes, so inside the data every lookup is
exact without a ttl. What can go wrong is that the pipeline stops. So each build that publishes
the feature tables also writes ``<features>/coverage.json``: for each table, the instant its
data reaches (``covered_until``: the UTC midnight after the newest arrival partition, the last
snapshot date, ``int_data_coverage.coverage_end_date``). A value asked for at ``t`` past
``covered_until + 2 x PITSTOP_FRESHNESS_HOURS`` (one interval until the next run is due, plus
one missed run: the point where ``pitstop monitor`` says ``error``) is stale: null in pitstop's
training sets, ``OUTSIDE_MAX_AGE`` in the API. The materializer records what it wrote in the
online store (``min(covered_until, end)``), so the API ages what it serves, not what the build
has.

A table with no entry (a user's own Parquet file, a store materialized before this record
existed) has no bound: unknown is not stale.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

COVERAGE_FILE = "coverage.json"
# Stale past covered_until + STALE_FACTOR x the expected interval between runs; the monitor's
# freshness says "error" at the same age (monitoring/freshness.py, ERROR_FACTOR).
STALE_FACTOR = 2.0


def write(features_dir: Path, covered_until: dt.datetime, tables: Iterable[str]) -> None:
    """Record ``covered_until`` for ``tables`` (merged into the file; replaced atomically)."""
    path = features_dir / COVERAGE_FILE
    recorded = {name: when.isoformat() for name, when in read(features_dir).items()}
    recorded.update({name: covered_until.isoformat() for name in tables})
    pending = path.with_name(f".{COVERAGE_FILE}.pending")
    pending.write_text(json.dumps({"tables": dict(sorted(recorded.items()))}, indent=2) + "\n")
    os.replace(pending, path)


def read(features_dir: Path) -> dict[str, dt.datetime]:
    """Each table's ``covered_until`` as recorded in ``features_dir``; {} without a record."""
    try:
        recorded = json.loads((features_dir / COVERAGE_FILE).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return {}
    tables = recorded.get("tables") if isinstance(recorded, dict) else None
    if not isinstance(tables, dict):
        return {}
    covered = {}
    for name, when in tables.items():
        try:
            covered[str(name)] = _utc(str(when))
        except ValueError:
            continue  # an entry that is not a time is no record
    return covered


def of_table(path: str | os.PathLike[str]) -> dt.datetime | None:
    """The ``covered_until`` of the feature table at ``path`` (its folder, its glob, or a
    single Parquet file), read from the coverage file beside it; None when none is recorded."""
    from pitstop import feature_tables

    text = str(path)
    table = Path(text).parent if text.endswith("*.parquet") else Path(text)
    return read(table.parent).get(feature_tables.name_of(table))


def of_source(source: object) -> dt.datetime | None:
    """:func:`of_table` for a Feast data source (a view's ``batch_source``): its local Parquet
    path, ``file://`` or plain; None for anything else."""
    path = getattr(source, "path", None)
    if not isinstance(path, str) or "://" in path.removeprefix("file://"):
        return None
    return of_table(path.removeprefix("file://"))


def stale_after(covered_until: dt.datetime, interval_hours: float) -> dt.datetime:
    """The instant after which a view covered until ``covered_until`` is stale."""
    return covered_until + dt.timedelta(hours=interval_hours * STALE_FACTOR)


def grace_seconds(interval_hours: float) -> float:
    """How long past its coverage a view is served, in seconds."""
    return interval_hours * STALE_FACTOR * 3600.0


def stale_views(
    covered: Mapping[str, float], now_seconds: float, interval_hours: float
) -> dict[str, float]:
    """Of ``covered`` (view -> covered_until in epoch seconds), the views stale at
    ``now_seconds``, each with the epoch second it went stale. A stale view's rows written
    later than its coverage (pushed) stay fresh for the same grace after their own time."""
    grace = grace_seconds(interval_hours)
    return {view: until + grace for view, until in covered.items() if now_seconds > until + grace}


def _utc(text: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


__all__ = [
    "COVERAGE_FILE",
    "STALE_FACTOR",
    "grace_seconds",
    "of_source",
    "of_table",
    "read",
    "stale_after",
    "stale_views",
    "write",
]
