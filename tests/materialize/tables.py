"""Synthetic feature tables with the dbt marts' schemas, for materializer tests.

Fast to make in any size and any version (``version`` shifts every value and timestamp, so
"old" and "new" values of an entity are told apart), with nulls where the marts have them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa

from pitstop.feature_tables import write_table

# Three days ago at midnight: recent rows, and a push dated a day or two after them is still in
# the past (pushes may not be dated ahead of the server's clock).
DAY = dt.datetime.combine(
    dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=3),
    dt.time(),
    tzinfo=dt.timezone.utc,
)
USER_ACTIVITY_INTS = (
    "events_1d",
    "events_7d",
    "events_30d",
    "sessions_7d",
    "page_views_7d",
    "add_to_carts_7d",
    "purchases_7d",
    "purchases_30d",
    "days_active_30d",
    "support_tickets_30d",
    "unpriced_purchases_30d",
)
TS = pa.timestamp("us", tz="UTC")


def _times(base: dt.datetime, seconds: np.ndarray) -> pa.Array:
    micros = int(base.timestamp()) * 1_000_000 + seconds.astype(np.int64) * 1_000_000 + 123
    return pa.array(micros, pa.int64()).cast(TS)


def write_feature_tables(
    features_dir: Path, *, users: int, items: int, version: int = 0, only: str | None = None
) -> None:
    """Two rows per entity (an older and the latest) in each of the three feature tables."""
    features_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1000 + version)
    shift = dt.timedelta(days=version)

    def rows(count: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.concatenate([np.arange(1, count + 1)] * 2)
        offsets = np.concatenate([np.zeros(count), np.full(count, 3600 * 20)])
        return ids, offsets

    tables: dict[str, pa.Table] = {}
    ids, offsets = rows(users)
    n = len(ids)
    event = _times(DAY + shift, offsets)
    columns: dict[str, pa.Array] = {
        "user_id": pa.array(ids, pa.int64()),
        "event_timestamp": event,
        "created_timestamp": _times(DAY + shift, offsets + 60),
    }
    for name in USER_ACTIVITY_INTS:
        columns[name] = pa.array(rng.integers(0, 500, n) + version, pa.int64())
    columns["revenue_7d"] = pa.array(rng.random(n) * 100 + version)
    columns["revenue_30d"] = pa.array(rng.random(n) * 400 + version)
    aov = rng.random(n) * 50 + version
    columns["avg_order_value_30d"] = pa.array(aov, mask=rng.random(n) < 0.3)
    tables["user_activity"] = pa.table(columns)

    last_purchase = _times(DAY + shift, offsets - 7200)
    tables["user_profile"] = pa.table(
        {
            "user_id": pa.array(ids, pa.int64()),
            "event_timestamp": event,
            "created_timestamp": _times(DAY + shift, offsets + 60),
            "first_seen_at": _times(DAY - dt.timedelta(days=30), offsets),
            "last_event_at": _times(DAY + shift, offsets - 60),
            "last_purchase_at": pa.array(
                last_purchase.cast(pa.int64()).to_numpy(), mask=rng.random(n) < 0.4
            ).cast(TS),
            "lifetime_purchases": pa.array(rng.integers(0, 90, n) + version, pa.int64()),
            "lifetime_revenue": pa.array(rng.random(n) * 1e4 + version),
        }
    )

    ids, offsets = rows(items)
    m = len(ids)
    tables["item_popularity"] = pa.table(
        {
            "item_id": pa.array(ids, pa.int64()),
            "event_timestamp": _times(DAY + shift, offsets),
            "created_timestamp": _times(DAY + shift, offsets + 60),
            "item_views_7d": pa.array(rng.integers(0, 9000, m) + version, pa.int64()),
            "item_add_to_carts_7d": pa.array(rng.integers(0, 900, m) + version, pa.int64()),
            "item_purchases_7d": pa.array(rng.integers(0, 90, m) + version, pa.int64()),
            "item_revenue_7d": pa.array(rng.random(m) * 1e3 + version),
            "item_conversion_rate_7d": pa.array(rng.random(m), mask=rng.random(m) < 0.2),
        }
    )
    for name, table in tables.items():
        if only is None or only == name:
            write_table(features_dir / name, table)  # the published layout, replaced
