"""Feature profiles: one DuckDB pass per table gives, per day and feature, the row count, null
rate, mean, std, min, max, quantiles and a histogram on fixed bins.

The bins come from the baseline (its deciles plus a tail bin on each side and a null bin), so
the histograms of any two days share their bins and add up to weeks without rescanning:
:meth:`Profile.combine`. Counts, sums and sums of squares add; quantiles do not, which is why
the window's own row (``day=None``) comes out of the same pass through ``GROUPING SETS``.
Quantiles are read off the histogram (interpolated within a bin), so they cost no extra pass.

A feature table is sparse (a row only when a value changes; see transformations/README.md).
:func:`feature_table_sql` turns it back into what a training set sees: the state of every entity
at every snapshot day of the window (the latest row at or before the day, within the view's ttl
if it declares one). That is what the baseline (a training set) holds, so the two
sides of the drift statistic describe the same thing.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from pitstop.sql import identifier, literal

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
DECILES = tuple(round(0.1 * i, 1) for i in range(1, 10))
SAMPLE_ABOVE_ROWS = 200_000


@dataclass(frozen=True)
class Bins:
    """Fixed histogram bins for one feature: ``edges`` are the baseline's min, deciles and max.

    Bin 0 holds values below the baseline's min, bin i (1..k) ``edges[i-1] <= x < edges[i]``
    (the last one closed: ``<= max``), bin k+1 values above the baseline's max, and one more
    bin the nulls. Repeated deciles (a feature that is mostly zero) collapse into one edge.
    """

    edges: tuple[float, ...]

    @classmethod
    def from_cut_points(cls, points: Sequence[float]) -> Bins:
        unique = sorted({float(point) for point in points if math.isfinite(point)})
        if len(unique) == 1:
            unique = unique * 2  # one value: below, equal, above
        return cls(edges=tuple(unique))

    @property
    def size(self) -> int:
        """Number of bins, the null bin included."""
        return len(self.edges) + 2

    def labels(self) -> list[str]:
        edges = [_short(edge) for edge in self.edges]
        middle = [f"[{low}, {high})" for low, high in zip(edges, edges[1:], strict=False)]
        if middle:
            middle[-1] = middle[-1][:-1] + "]"
        return [f"< {edges[0]}", *middle, f"> {edges[-1]}", "null"]

    def aggregates(self, value: str) -> list[str]:
        """DuckDB aggregates whose results :meth:`counts` turns into the value bins' counts:
        ``count_if(value >= edge)`` for all but the last edge, then ``count_if(value > max)``.
        Plain comparisons vectorize; they are several times faster than ``histogram()``."""
        edges = [_sql_number(edge) for edge in self.edges]
        return [f"count_if({value} >= {edge})" for edge in edges[:-1]] + [
            f"count_if({value} > {edges[-1]})"
        ]

    def counts(self, present: int, cumulative: Sequence[int], nulls: int) -> tuple[int, ...]:
        """Per-bin counts (null bin last) from the results of :meth:`aggregates`."""
        at_least = [int(count) for count in cumulative[:-1]]  # edges has 2+ entries
        above = int(cumulative[-1])
        values = [present - at_least[0]]
        values += [low - high for low, high in zip(at_least, at_least[1:], strict=False)]
        values += [at_least[-1] - above, above, nulls]
        return tuple(values)

    def quantiles(self, counts: Sequence[int], low: float, high: float) -> dict[str, float]:
        """Quantiles interpolated in the histogram (as Prometheus' histogram_quantile does):
        exact at the bin edges, within one bin elsewhere; the tails end at the min and max."""
        present = sum(counts[:-1])
        if not present:
            return {}
        lows = [min(low, self.edges[0]), *self.edges]
        highs = [self.edges[0], *self.edges[1:], max(high, self.edges[-1])]
        result: dict[str, float] = {}
        for q in QUANTILES:
            target, seen = q * present, 0.0
            for count, start, end in zip(counts[:-1], lows, highs, strict=True):
                if count and seen + count >= target:
                    share = (target - seen) / count
                    result[f"p{round(q * 100)}"] = start + share * (end - start)
                    break
                seen += count
        return result


@dataclass(frozen=True)
class Profile:
    """One feature over some rows (a day, a window, a training set)."""

    rows: int
    nulls: int
    total: float = 0.0
    total_squares: float = 0.0
    min: float | None = None
    max: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    # One count per bin of the feature's Bins, the null bin last; empty without bins.
    counts: tuple[int, ...] = ()

    @property
    def null_rate(self) -> float | None:
        return self.nulls / self.rows if self.rows else None

    @property
    def mean(self) -> float | None:
        present = self.rows - self.nulls
        return self.total / present if present else None

    @property
    def std(self) -> float | None:
        present = self.rows - self.nulls
        if not present or self.mean is None:
            return None
        return math.sqrt(max(self.total_squares / present - self.mean**2, 0.0))

    def combine(self, other: Profile) -> Profile:
        """Both profiles' rows as one (same bins); quantiles cannot be added and are dropped."""
        if self.counts and other.counts and len(self.counts) != len(other.counts):
            raise ValueError("profiles on different bins cannot be combined")
        counts = (
            tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
            if self.counts and other.counts
            else self.counts or other.counts
        )
        return Profile(
            rows=self.rows + other.rows,
            nulls=self.nulls + other.nulls,
            total=self.total + other.total,
            total_squares=self.total_squares + other.total_squares,
            min=_pick(min, self.min, other.min),
            max=_pick(max, self.max, other.max),
            counts=counts,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "nulls": self.nulls,
            "total": self.total,
            "total_squares": self.total_squares,
            "min": self.min,
            "max": self.max,
            "quantiles": self.quantiles,
            "counts": list(self.counts),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Profile:
        return cls(
            rows=int(data["rows"]),
            nulls=int(data["nulls"]),
            total=float(data["total"]),
            total_squares=float(data["total_squares"]),
            min=data.get("min"),
            max=data.get("max"),
            quantiles={str(k): float(v) for k, v in (data.get("quantiles") or {}).items()},
            counts=tuple(int(count) for count in data.get("counts") or ()),
        )


# A table's profiles: day (None: every day of the window together) -> feature -> Profile.
TableProfiles = dict[dt.datetime | None, dict[str, Profile]]


def profile_rows(
    connection: duckdb.DuckDBPyConnection,
    source_sql: str,
    bins: Mapping[str, Bins | None],
    *,
    by_day: bool = True,
    parameters: Mapping[str, object] | None = None,
) -> TableProfiles:
    """Profile ``bins``' features over ``source_sql`` in one pass.

    ``source_sql`` yields the features as columns and, with ``by_day``, a ``day`` column; the
    result has one entry per day and one (key ``None``) for all rows together. A feature whose
    bins are ``None`` gets every statistic but the histogram and quantiles.
    """
    aggregates = ["count(*)"]
    widths = []
    for name, feature_bins in bins.items():
        value = f"{identifier(name)}::DOUBLE"
        extra = feature_bins.aggregates(value) if feature_bins else []
        aggregates += [
            f"count({value})",
            f"sum({value})",
            f"sum({value} * {value})",
            f"min({value})",
            f"max({value})",
            *extra,
        ]
        widths.append(5 + len(extra))
    select = ", ".join(aggregates)
    if by_day:
        query = (
            f"SELECT day, grouping(day) AS whole, {select} FROM ({source_sql}) "
            "GROUP BY GROUPING SETS ((day), ())"
        )
    else:
        query = f"SELECT NULL AS day, 1 AS whole, {select} FROM ({source_sql})"
    result: TableProfiles = {}
    for row in connection.execute(query, dict(parameters or {})).fetchall():
        day = None if row[1] else row[0]
        rows = int(row[2])
        profiles: dict[str, Profile] = {}
        offset = 3
        for (name, feature_bins), width in zip(bins.items(), widths, strict=True):
            present, total, squares, low, high, *cumulative = row[offset : offset + width]
            offset += width
            nulls = rows - int(present)
            counts = feature_bins.counts(int(present), cumulative, nulls) if feature_bins else ()
            quantiles = (
                feature_bins.quantiles(counts, low, high)
                if feature_bins and low is not None
                else {}
            )
            profiles[name] = Profile(
                rows=rows,
                nulls=nulls,
                total=float(total or 0.0),
                total_squares=float(squares or 0.0),
                min=low,
                max=high,
                quantiles=quantiles,
                counts=counts,
            )
        result[day] = profiles
    return result


def cut_points(
    connection: duckdb.DuckDBPyConnection,
    source_sql: str,
    features: Sequence[str],
    parameters: Mapping[str, object] | None = None,
    *,
    sample_above: int = SAMPLE_ABOVE_ROWS,
) -> dict[str, Bins | None]:
    """The baseline's bins: min, deciles and max of each feature (None when all null).

    Min and max are exact. Deciles are exact up to ``sample_above`` rows; above, they come from
    a fixed (seeded) 10 % block sample: bins only need to be fixed and roughly equal in mass,
    and the exact deciles of a million rows cost more than the whole profile pass.
    """
    params = dict(parameters or {})
    extremes = ", ".join(
        f"min({identifier(name)}::DOUBLE), max({identifier(name)}::DOUBLE)" for name in features
    )
    row = connection.execute(f"SELECT count(*), {extremes} FROM ({source_sql})", params)
    total, *bounds = row.fetchall()[0]
    sampled = (
        f"SELECT * FROM ({source_sql}) USING SAMPLE 10 PERCENT (system, 7)"
        if total > sample_above
        else source_sql
    )
    deciles = ", ".join(
        f"quantile_cont({identifier(name)}::DOUBLE, [{', '.join(map(str, DECILES))}])"
        for name in features
    )
    cuts = connection.execute(f"SELECT {deciles} FROM ({sampled})", params).fetchall()[0]
    bins: dict[str, Bins | None] = {}
    for index, name in enumerate(features):
        low, high = bounds[2 * index : 2 * index + 2]
        bins[name] = (
            None if low is None else Bins.from_cut_points([low, *(cuts[index] or []), high])
        )
    return bins


def feature_table_sql(
    path: Path,
    join_key: str,
    features: Sequence[str],
    days: Sequence[dt.datetime],
    ttl: dt.timedelta | None,
) -> str:
    """Every entity's state at every day of ``days`` (a training set's view of the table).

    An entity's row with ``event_timestamp = T`` holds from T until its next row; it counts for
    each day ``d`` with ``T <= d < next`` and ``d - T <= ttl``, as the point-in-time join picks
    it for an entity row at ``d`` (the offline store's inclusive ttl).
    """
    key = identifier(join_key)
    columns = ", ".join(identifier(name) for name in features)
    last = days[-1]
    ttl_clause = (
        f" AND r.event_timestamp >= d.day - INTERVAL {int(ttl.total_seconds())} SECOND"
        if ttl
        else ""
    )
    day_list = ", ".join(f"TIMESTAMPTZ '{day.isoformat()}'" for day in days)
    return (
        "WITH rows AS ("
        f"SELECT {key}, event_timestamp, {columns}, lead(event_timestamp) OVER "
        f"(PARTITION BY {key} ORDER BY event_timestamp) AS next_timestamp "
        f"FROM read_parquet({literal(path)}) "
        f"WHERE event_timestamp <= TIMESTAMPTZ '{last.isoformat()}'), "
        f"days AS (SELECT unnest([{day_list}]) AS day) "
        f"SELECT d.day, r.{key}, {', '.join('r.' + identifier(name) for name in features)} "
        "FROM rows AS r JOIN days AS d ON r.event_timestamp <= d.day "
        f"AND (r.next_timestamp IS NULL OR r.next_timestamp > d.day){ttl_clause}"
    )


def _pick(choose: Any, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return float(choose(a, b))


def _short(value: float) -> str:
    return f"{value:.4g}"


def _sql_number(value: float) -> str:
    return repr(float(value))
