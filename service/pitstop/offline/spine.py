"""A training set's spine from a time range: every entity seen in [start, end) x every step
from its first feature row on, with labels left-joined from a table of the data folder, built
in DuckDB.

A step before an entity's first feature row is left out: the entity did not exist yet, its
features would all be null, and such rows (27 % of a real clickstream's spine) made a drift
baseline from this training set hold a null bin no serving window has. The steps are also
bounded by the data: none before its first row, none past a step beyond its end (its
coverage or its last row), so `--start 0001-01-01 --end 9999-12-31` is the data's own range
(said through ``note``), not millions of empty steps.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pitstop import coverage, feature_tables, spill
from pitstop.errors import InvalidInputError
from pitstop.feast_adapter import repo
from pitstop.feast_adapter.repo import ServiceInputs
from pitstop.offline.entity_file import ENTITY_TIMESTAMP
from pitstop.settings import Settings
from pitstop.sql import identifier, literal

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore

__all__ = ["TimeRange", "write_spine"]


@dataclass(frozen=True)
class TimeRange:
    """A spine instead of an entity file: every entity seen in [start, end) x every step.

    ``start`` and ``end`` are ISO dates or date-times (zone-less means UTC); ``every`` is ``Nd``
    or ``Nh``; ``labels`` names a table in the data folder's features/ (e.g. churn_labels),
    left-joined on the join key and ``event_timestamp``.
    """

    start: str
    end: str
    every: str = "1d"
    labels: str | None = None


_STEP = r"^\s*(\d+)\s*([dh])\s*$"


def _instant(text: str, what: str) -> datetime.datetime:
    value = str(text).strip()
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"{what} {text!r} is not an ISO 8601 date or date-time (e.g. 2026-03-01)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc)


def write_spine(
    settings: Settings,
    store: FeatureStore,
    service: FeatureService,
    needs: ServiceInputs,
    window: TimeRange,
    out: Path,
    note: Callable[[str], None] | None = None,
) -> None:
    """Every entity with a feature row in [start, end) x every step from start at or after
    its first feature row, as Parquet."""
    import re

    start = _instant(window.start, "--start")
    end = _instant(window.end, "--end")
    if end <= start:
        raise InvalidInputError(f"--end {window.end} must be after --start {window.start}")
    step = re.match(_STEP, window.every or "")
    if step is None or int(step.group(1)) == 0:
        raise InvalidInputError(f"--every {window.every!r} must be like 1d, 7d or 6h")
    count, unit = int(step.group(1)), "DAY" if step.group(2) == "d" else "HOUR"
    every = datetime.timedelta(days=count) if unit == "DAY" else datetime.timedelta(hours=count)
    if len(needs.join_keys) != 1:
        raise InvalidInputError(
            f"{service.name} joins on {', '.join(needs.join_keys)}: a time range gives no "
            "spine for more than one entity; pass --entities FILE"
        )
    key = needs.join_keys[0]
    paths = repo.source_paths(store, service, key)
    labels_path = None
    if window.labels:
        labels_table = feature_tables.table_path(settings.features_dir, window.labels)
        labels_path = feature_tables.glob(labels_table)
        if not feature_tables.is_table(labels_table):
            tables = settings.features_dir.iterdir()
            known = sorted(path.name for path in tables if feature_tables.is_table(path))
            raise InvalidInputError(
                f"no labels table {window.labels!r} in {settings.features_dir}; "
                f"known: {', '.join(known) or 'none'}"
            )

    quoted = identifier(key)
    feature_rows = " UNION ALL ".join(
        f"SELECT {quoted}, event_timestamp::TIMESTAMPTZ AS event_timestamp "
        f"FROM read_parquet({literal(path)})"
        for path in paths
    )
    # each entity seen in [start, end), and its first feature row in any of the sources
    entities = (
        f"SELECT {quoted}, min(event_timestamp) AS first_at FROM ({feature_rows}) "
        f"GROUP BY {quoted} "
        "HAVING count(*) FILTER (WHERE event_timestamp >= $start AND event_timestamp < $end) > 0"
    )
    spine = (
        f"SELECT e.{quoted}, t.range AS event_timestamp "
        f"FROM ({entities}) AS e CROSS JOIN range($low, $high, INTERVAL {count} {unit}) AS t "
        "WHERE t.range >= e.first_at"
    )
    with spill.connect() as connection:
        first, last = connection.execute(
            f"SELECT min(event_timestamp), max(event_timestamp) FROM ({feature_rows})"
        ).fetchall()[0]
        if first is None:
            raise InvalidInputError(f"the feature tables of {service.name} have no rows")
        covered = [when for when in map(coverage.of_table, paths) if when is not None]
        known_until = max([last, *covered])
        # the first step at or after the data's first row; the last one step past its end
        low = start + max(0, -(-(first - start) // every)) * every
        high = min(end, known_until + every)
        if (low, high) != (start, end) and note is not None:
            note(
                f"note: steps from {low.isoformat()} to {high.isoformat()} (the data's range "
                f"within --start/--end; a step outside it would have no feature values)"
            )
        if labels_path is not None:
            columns = [
                name
                for name in connection.read_parquet(str(labels_path)).columns
                if name not in (key, ENTITY_TIMESTAMP, "created_timestamp")
            ]
            if key not in connection.read_parquet(str(labels_path)).columns:
                raise InvalidInputError(f"labels table {labels_path} has no `{key}` column")
            picked = ", ".join(f'l."{name}"' for name in columns)
            spine = (
                f"SELECT s.*{', ' + picked if picked else ''} FROM ({spine}) AS s "
                f"LEFT JOIN read_parquet({literal(labels_path)}) AS l "
                f"ON l.{quoted} = s.{quoted} AND l.event_timestamp = s.event_timestamp"
            )
        connection.execute(
            f"COPY ({spine} ORDER BY event_timestamp, {quoted}) TO {literal(out)} (FORMAT parquet)",
            {"start": start, "end": end, "low": low, "high": high},
        )
        rows = connection.execute(f"SELECT count(*) FROM read_parquet({literal(out)})")
        if rows.fetchall()[0][0] == 0:
            raise InvalidInputError(
                f"no {key} has a feature row in [{window.start}, {window.end}); nothing to join"
            )
