"""Synthetic feature tables for the monitoring tests: stationary, dense, with a known schema.

Monitoring reads the feature tables, the online store and the serving logs; it never needs the
raw logs, so these tests write the tables directly (the contract's columns and types, as the
dbt marts publish them) instead of generating and building events: drift needs thousands of
rows with a distribution that does not move by itself, and faults planted by editing a table.
Every entity has a row every day, drawn independently from fixed distributions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pitstop.feature_tables import write_table

USERS = 400
ITEMS = 160
DAYS = 28


def snapshot_days(last: dt.datetime, days: int = DAYS) -> list[dt.datetime]:
    return [last - dt.timedelta(days=back) for back in range(days - 1, -1, -1)]


def write_feature_tables(
    features_dir: Path, days: Sequence[dt.datetime], users: int = USERS, items: int = ITEMS
) -> None:
    """user_activity, user_profile and item_popularity with one row per entity and day."""
    rng = np.random.default_rng(7)
    features_dir.mkdir(parents=True, exist_ok=True)
    write_table(features_dir / "user_activity", _frame(_user_activity(rng, days, users)))
    write_table(features_dir / "user_profile", _frame(_user_profile(rng, days, users)))
    write_table(features_dir / "item_popularity", _frame(_item_popularity(rng, days, items)))


def _spine(days: Sequence[dt.datetime], entities: int, key: str) -> dict[str, np.ndarray]:
    timestamps = pd.DatetimeIndex(days).tz_convert("UTC").as_unit("us")
    return {
        key: np.tile(np.arange(1, entities + 1, dtype="int64"), len(days)),
        "event_timestamp": np.repeat(timestamps.values, entities),
    }


def _user_activity(rng: np.random.Generator, days: Sequence[dt.datetime], n: int) -> dict:
    rows = n * len(days)
    columns = _spine(days, n, "user_id")
    purchases_7d = rng.poisson(0.8, rows)
    purchases_30d = purchases_7d + rng.poisson(2.0, rows)
    revenue_7d = np.round(purchases_7d * rng.gamma(2.0, 20.0, rows), 2)
    revenue_30d = np.round(
        revenue_7d + (purchases_30d - purchases_7d) * rng.gamma(2.0, 20.0, rows), 2
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        aov = np.where(purchases_30d > 0, revenue_30d / purchases_30d, np.nan)
    columns.update(
        events_1d=rng.poisson(1.5, rows),
        events_7d=rng.poisson(9.0, rows),
        events_30d=rng.poisson(35.0, rows),
        sessions_7d=rng.poisson(3.0, rows),
        page_views_7d=rng.poisson(5.0, rows),
        add_to_carts_7d=rng.poisson(1.2, rows),
        purchases_7d=purchases_7d,
        purchases_30d=purchases_30d,
        days_active_30d=rng.binomial(30, 0.4, rows),
        support_tickets_30d=rng.poisson(0.3, rows),
        unpriced_purchases_30d=np.zeros(rows, dtype="int64"),
        revenue_7d=revenue_7d.astype("float64"),
        revenue_30d=revenue_30d.astype("float64"),
        avg_order_value_30d=aov,
    )
    return columns


def _user_profile(rng: np.random.Generator, days: Sequence[dt.datetime], n: int) -> dict:
    rows = n * len(days)
    columns = _spine(days, n, "user_id")
    at = pd.to_datetime(columns["event_timestamp"], utc=True)
    columns.update(
        first_seen_at=(at - pd.to_timedelta(rng.integers(30, 400, rows), unit="D")).values,
        last_event_at=(at - pd.to_timedelta(rng.integers(1, 48 * 3600, rows), unit="s")).values,
        last_purchase_at=(at - pd.to_timedelta(rng.integers(1, 30 * 86400, rows), unit="s")).values,
        lifetime_purchases=rng.poisson(12.0, rows),
        lifetime_revenue=np.round(rng.gamma(3.0, 150.0, rows), 2),
    )
    return columns


def _item_popularity(rng: np.random.Generator, days: Sequence[dt.datetime], n: int) -> dict:
    rows = n * len(days)
    columns = _spine(days, n, "item_id")
    views = rng.poisson(40.0, rows)
    purchases = rng.binomial(views, 0.05)
    columns.update(
        item_views_7d=views,
        item_add_to_carts_7d=rng.binomial(views, 0.15),
        item_purchases_7d=purchases,
        item_revenue_7d=np.round(purchases * rng.gamma(2.0, 25.0, rows), 2).astype("float64"),
        item_conversion_rate_7d=np.where(views > 0, purchases / np.maximum(views, 1), np.nan),
    )
    return columns


def _frame(columns: dict) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    for name in frame.columns:
        if str(frame[name].dtype).startswith("datetime64"):
            frame[name] = pd.to_datetime(frame[name], utc=True).dt.as_unit("us")
        elif str(frame[name].dtype).startswith("int"):
            frame[name] = frame[name].astype("int64")
    frame.insert(2, "created_timestamp", frame["event_timestamp"])
    return frame
