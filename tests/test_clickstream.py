"""Issue 16's clickstream, taken in with its vocabulary declared in one file.

A copy of the project gets the log's vocabulary (`vars.event_types` of dbt_project.yml: page
views with or without an item, a cart, six checkout steps as types of their own, a purchase
whose price is optional) and, per README "Add a feature", a 7-day count of one checkout step.
Then one `pitstop run`, as a user would, over tests/clickstream_log.py's log.

Every expected value comes from the generator's own record of the events (plain Python over
``ClickLog.events``), never from the pipeline: the line accounting, the clean events field by
field, and the features at a few lookup times, offline (the Parquet tables, Feast's
point-in-time rule) and online (the SQLite store).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.clickstream_log import CHECKOUT_STEPS, FIELDS, VOCABULARY, ClickLog, Event, clickstream
from tests.project_copy import (
    copy_project,
    insert_after_column,
    online_values,
    remove_column,
    run_pitstop,
)

UTC = dt.timezone.utc
CHECKOUT_STEP = "checkout_shipping"
CHECKOUT_FEATURE = "checkout_shippings_7d"
CHECKOUT_ENTRY = f"""\
      - name: {CHECKOUT_FEATURE}
        data_type: bigint
        description: "{CHECKOUT_STEP} events in the 7 days before T."
        config: {{meta: {{window: {{count: {CHECKOUT_STEP}, days: 7}}}}}}
        data_tests: [not_null]
"""
CART_FEATURE = "items_bought_30d"
CART_ENTRY = f"""\
      - name: {CART_FEATURE}
        data_type: double
        description: "Sum of cart_size over purchase events in the 30 days before T."
        config: {{meta: {{window: {{sum: cart_size, over: purchase, days: 30}}}}}}
        data_tests: [not_null]
"""
# Values that do not add up, over the log's own fields (macros/event_aggregates.sql).
PAGES_FEATURE = "pages_seen_7d"
LAST_CART_FEATURE = "last_cart_size"
AGGREGATE_ENTRIES = f"""\
      - name: {PAGES_FEATURE}
        data_type: bigint
        description: "Distinct pages viewed in the 7 days before T."
        config: {{meta: {{window: {{distinct: page, over: page_view, days: 7}}}}}}
      - name: {LAST_CART_FEATURE}
        data_type: double
        description: "cart_size of the user's last purchase before T that has one; null if none."
        config: {{meta: {{window: {{latest: cart_size, over: purchase}}}}}}
"""


@dataclass(frozen=True)
class Run:
    log: ClickLog
    project: Path
    data: Path
    output: str

    @property
    def coverage_end(self) -> dt.datetime:
        """The newest snapshot the data covers: the day after the last arrival partition."""
        return _midnight(self.log.last_day + dt.timedelta(days=1))

    def query(self, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` over the warehouse (schema ``w``); ``{data}`` is the data folder."""
        connection = duckdb.connect()
        try:
            connection.execute("set TimeZone = 'UTC'")
            connection.execute(f"attach '{self.data / 'warehouse.duckdb'}' as w (read_only)")
            sql = sql.replace("{data}", str(self.data))
            return connection.execute(sql, list(parameters)).fetchall()
        finally:
            connection.close()


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), UTC)


def _declare_vocabulary(dbt_project: Path) -> None:
    """The log's types in `vars.event_types`, in place of the shipped vocabulary, and its fields
    of its own in `vars.event_fields`."""
    text = dbt_project.read_text()
    [shipped] = re.findall(r"  event_types:\n((?:    .*\n)+)", text)
    text = text.replace(shipped, VOCABULARY.split("\n", 1)[1])
    dbt_project.write_text(text.replace("  event_fields: {}\n", FIELDS))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    project = copy_project(tmp_path_factory.mktemp("project"))
    _declare_vocabulary(project / "transformations" / "dbt_project.yml")
    marts_yaml = project / "transformations" / "models" / "marts" / "_marts__models.yml"
    insert_after_column(marts_yaml, "purchases_30d", CHECKOUT_ENTRY)
    insert_after_column(marts_yaml, CHECKOUT_FEATURE, CART_ENTRY)
    insert_after_column(marts_yaml, CART_FEATURE, AGGREGATE_ENTRIES)
    # the log has no support tickets, so the feature counting them goes with the shipped type
    remove_column(marts_yaml, "support_tickets_30d")

    log = clickstream()
    data = tmp_path_factory.mktemp("clickstream")
    for folder, part, lines in log.files():
        (data / "raw" / "events" / folder).mkdir(parents=True, exist_ok=True)
        (data / "raw" / "events" / folder / f"{part}.jsonl").write_text(
            "".join(line + "\n" for line in lines)
        )
    output = run_pitstop(project, "run", "--data-dir", str(data))
    return Run(log, project, data, output)


# ---- the lines ----


def test_the_log_is_the_clickstream_of_issue_16() -> None:
    log = clickstream()
    assert clickstream().partitions == log.partitions  # seeded
    assert len(log.partitions) == 61 and len({e.user_id for e in log.events}) > 250
    assert set(log.by_type) == {"page_view", "add_to_cart", "purchase", *CHECKOUT_STEPS}
    pages = [e for e in log.events if e.event_type == "page_view"]
    assert sum(e.item_id is None for e in pages) > 0.3 * len(log.events)  # home, catalog
    purchases = [e for e in log.events if e.event_type == "purchase"]
    assert 0.5 < sum(e.price is None for e in purchases) / len(purchases) < 0.9
    assert log.redeliveries > 100 and log.late > 100
    assert 0.01 < len(log.faults) / log.raw_lines < 0.05


def test_raw_lines_are_clean_events_duplicates_and_quarantined(run: Run) -> None:
    log = run.log
    [(raw, clean, duplicates, quarantined)] = run.query(
        "select sum(raw_lines), sum(clean_events), sum(duplicate_lines), "
        "sum(quarantined_lines) from w.stg_events__line_counts"
    )
    assert (raw, clean, duplicates, quarantined) == (
        log.raw_lines,
        len(log.events),
        log.redeliveries,
        len(log.faults),
    )
    assert raw == clean + duplicates + quarantined
    assert clean / raw >= 0.95
    assert (
        f"{raw:,} raw lines: {clean:,} clean events, {duplicates:,} duplicates, "
        f"{quarantined:,} quarantined"
    ) in run.output
    # a first run writes every user once per user view, counted per view (not summed)
    users = len({event.user_id for event in log.events})
    assert f"user_profile {users:,}," in run.output or f"user_profile {users:,} " in run.output
    reasons = run.query(
        "select rejection_reason, count(*) "
        "from read_parquet('{data}/quarantine/stg_events__quarantine.parquet') group by all"
    )
    assert dict(reasons) == Counter(reason for _, reason in log.faults)


def test_clean_events_are_the_log_s_events_with_nothing_invented(run: Run) -> None:
    """Field by field, the log's own fields too: a page without an item has a null item, an
    unpriced purchase a null price."""
    rows = run.query(
        "select event_id, event_type, user_id, event_at, item_id, page, price, cart_size "
        "from w.stg_events__events"
    )
    expected = {
        (e.event_id, e.event_type, e.user_id, e.ts, e.item_id, e.page, e.price, e.cart_size)
        for e in run.log.events
    }
    clean = {  # price and cart_size are exact decimals
        (*row[:6], *(None if value is None else float(value) for value in row[6:])) for row in rows
    }
    assert len(rows) == len(expected)
    assert clean == expected
    [(no_item_pages, unpriced, zero_prices)] = run.query(
        "select count(*) filter (where event_type = 'page_view' and item_id is null), "
        "count(*) filter (where event_type = 'purchase' and price is null), "
        "count(*) filter (where price = 0) from w.stg_events__events"
    )
    events = run.log.events
    assert no_item_pages == sum(e.event_type == "page_view" and e.item_id is None for e in events)
    assert unpriced == sum(e.event_type == "purchase" and e.price is None for e in events)
    assert zero_prices == 0


# ---- the features, recomputed from the log's events ----


def _window(events: Iterable[Event], at: dt.datetime, days: int) -> list[Event]:
    return [e for e in events if at - dt.timedelta(days=days) <= e.ts < at]


def _count(event_type: str, days: int) -> Callable[[list[Event], dt.datetime], int]:
    return lambda events, at: sum(e.event_type == event_type for e in _window(events, at, days))


def _revenue(events: list[Event]) -> float:
    return sum(e.price * (e.quantity or 1) for e in events if e.price is not None)


def _average_order_value(events: list[Event], at: dt.datetime) -> float | None:
    priced = [
        e for e in _window(events, at, 30) if e.event_type == "purchase" and e.price is not None
    ]
    return _revenue(priced) / len(priced) if priced else None


USER_FEATURES: dict[str, Callable[[list[Event], dt.datetime], Any]] = {
    "events_7d": lambda events, at: len(_window(events, at, 7)),
    "events_30d": lambda events, at: len(_window(events, at, 30)),
    "page_views_7d": _count("page_view", 7),
    "add_to_carts_7d": _count("add_to_cart", 7),
    "purchases_7d": _count("purchase", 7),
    "purchases_30d": _count("purchase", 30),
    CHECKOUT_FEATURE: _count(CHECKOUT_STEP, 7),
    CART_FEATURE: lambda events, at: float(
        sum(e.cart_size or 0 for e in _window(events, at, 30) if e.event_type == "purchase")
    ),
    PAGES_FEATURE: lambda events, at: len(
        {e.page for e in _window(events, at, 7) if e.event_type == "page_view" and e.page}
    ),
    LAST_CART_FEATURE: lambda events, at: max(
        (
            (e.ts, e.event_id, float(e.cart_size))
            for e in events
            if e.ts < at and e.event_type == "purchase" and e.cart_size is not None
        ),
        default=(None, None, None),
    )[2],
    "days_active_30d": lambda events, at: len({e.ts.date() for e in _window(events, at, 30)}),
    "sessions_7d": lambda events, at: 0,  # the log has no session ids
    "unpriced_purchases_30d": lambda events, at: sum(
        e.event_type == "purchase" and e.price is None for e in _window(events, at, 30)
    ),
    "revenue_30d": lambda events, at: _revenue(
        [e for e in _window(events, at, 30) if e.event_type == "purchase"]
    ),
    "avg_order_value_30d": _average_order_value,
}
PROFILE_FEATURES: dict[str, Callable[[list[Event], dt.datetime], Any]] = {
    "first_seen_at": lambda events, at: min(e.ts for e in events if e.ts < at),
    "last_event_at": lambda events, at: max(e.ts for e in events if e.ts < at),
    "last_purchase_at": lambda events, at: max(
        (e.ts for e in events if e.ts < at and e.event_type == "purchase"), default=None
    ),
    "lifetime_purchases": lambda events, at: sum(
        e.ts < at and e.event_type == "purchase" for e in events
    ),
}
ITEM_FEATURES: dict[str, Callable[[list[Event], dt.datetime], Any]] = {
    "item_views_7d": _count("page_view", 7),
    "item_add_to_carts_7d": _count("add_to_cart", 7),
    "item_purchases_7d": _count("purchase", 7),
}

# Lookup times: a few days in, a Monday, mid-day (the snapshot at the
# midnight before), the last full snapshot and the data's end.
LOOKUPS = [
    dt.datetime(2026, 9, 4, tzinfo=UTC),
    dt.datetime(2026, 9, 21, tzinfo=UTC),
    dt.datetime(2026, 10, 15, 13, 30, tzinfo=UTC),
    dt.datetime(2026, 10, 31, tzinfo=UTC),
    dt.datetime(2026, 11, 1, tzinfo=UTC),
]


def _by(events: Iterable[Event], key: str) -> dict[int, list[Event]]:
    grouped: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        if getattr(event, key) is not None:
            grouped[getattr(event, key)].append(event)
    return grouped


def _expected(
    events: dict[int, list[Event]],
    features: dict[str, Callable[[list[Event], dt.datetime], Any]],
    at: dt.datetime,
) -> dict[int, dict[str, Any]]:
    """Each entity's features at snapshot ``at``; entities with no event before it have none."""
    return {
        entity: {name: compute(mine, at) for name, compute in features.items()}
        for entity, mine in events.items()
        if any(e.ts < at for e in mine)
    }


def _same(actual: dict[int, dict[str, Any]], expected: dict[int, dict[str, Any]]) -> list[str]:
    """The differences, one line each; a null is right only where null is expected."""
    wrong = [f"entity {k}: missing" for k in expected.keys() - actual.keys()]
    wrong += [f"entity {k}: a row with no event before it" for k in actual.keys() - expected]
    for entity in expected.keys() & actual.keys():
        for name, value in expected[entity].items():
            got = actual[entity][name]
            if isinstance(value, float):
                value = pytest.approx(value, abs=1e-9)  # sums of decimals, as doubles
            if got != value or (got is None) != (value is None):
                wrong.append(f"entity {entity} {name}: {got!r}, expected {value!r}")
    return wrong


def _point_in_time(run: Run, table: str, key: str, at: dt.datetime) -> dict[int, dict[str, Any]]:
    """Feast's rule: each entity's latest row with event_timestamp <= at (the views have no ttl)."""
    connection = duckdb.connect()
    try:
        connection.execute("set TimeZone = 'UTC'")
        cursor = connection.execute(
            f"select * from read_parquet('{run.data / 'features' / table}/*.parquet') "
            "where event_timestamp <= ? "
            f"qualify row_number() over (partition by {key} order by event_timestamp desc) = 1",
            [at],
        )
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        connection.close()
    return {row[key]: row for row in rows}


@pytest.mark.parametrize("at", LOOKUPS, ids=lambda at: at.strftime("%m-%dT%H:%M"))
def test_user_and_item_features_offline(run: Run, at: dt.datetime) -> None:
    snapshot = _midnight(at.date())
    by_user = _by(run.log.events, "user_id")
    users = _expected(by_user, USER_FEATURES, snapshot)
    profiles = _expected(by_user, PROFILE_FEATURES, snapshot)
    items = _expected(_by(run.log.events, "item_id"), ITEM_FEATURES, snapshot)
    assert users and items
    wrong = _same(_point_in_time(run, "user_activity", "user_id", at), users)
    wrong += _same(_point_in_time(run, "user_profile", "user_id", at), profiles)
    wrong += _same(_point_in_time(run, "item_popularity", "item_id", at), items)
    assert wrong == []


def test_averages_over_unpriced_purchases_are_null_not_zero(run: Run) -> None:
    [(rows, null_averages, zero_averages, unpriced_only)] = run.query(
        "select count(*), count(*) filter (where avg_order_value_30d is null), "
        "count(*) filter (where avg_order_value_30d = 0), "
        "count(*) filter (where purchases_30d > 0 and purchases_30d = unpriced_purchases_30d "
        "and avg_order_value_30d is null) "
        "from read_parquet('{data}/features/user_activity/*.parquet')"
    )
    assert rows > 0 and zero_averages == 0
    assert unpriced_only > 100  # users who bought, at prices nobody knows
    assert null_averages > unpriced_only


def test_the_online_store_serves_the_values_at_the_data_s_end(run: Run) -> None:
    at = run.coverage_end
    users = _expected(_by(run.log.events, "user_id"), USER_FEATURES, at)
    items = _expected(_by(run.log.events, "item_id"), ITEM_FEATURES, at)
    online_users = online_values(
        run.data, "user_activity", "user_id", range(1, 400), list(USER_FEATURES)
    )
    online_items = online_values(
        run.data, "item_popularity", "item_id", range(1, 200), list(ITEM_FEATURES)
    )
    assert len(online_users) == len(users) and len(online_items) == len(items)
    assert _same(online_users, users) + _same(online_items, items) == []


# ---- the same project on Spark ----


def test_spark_builds_the_same_tables(run: Run, tmp_path: Path) -> None:
    """The log's own vocabulary, fields and declared aggregates on the Spark engine: the same
    feature tables cell for cell, and the same quarantine (tests/test_spark_parity.py does the
    shipped project; this is the user's own)."""
    data = tmp_path / "data"
    shutil.copytree(run.data / "raw", data / "raw")
    run_pitstop(
        run.project, "build", "--data-dir", str(data), environment={"PITSTOP_ENGINE": "spark"}
    )
    for name, keys in (
        ("user_activity", ["user_id"]),
        ("user_profile", ["user_id"]),
        ("item_popularity", ["item_id"]),
        ("churn_labels", ["user_id"]),
    ):
        order = [(key, "ascending") for key in [*keys, "event_timestamp"]]
        spark = pq.read_table(data / "features" / name).sort_by(order)
        duck = pq.read_table(run.data / "features" / name).sort_by(order)
        assert spark.schema.names == duck.schema.names, name
        assert spark.schema.types == duck.schema.types, name
        assert spark.num_rows == duck.num_rows > 0, name
        for column in duck.schema.names:
            assert spark.column(column).to_pylist() == duck.column(column).to_pylist(), column
    quarantined = [
        sorted(
            pq.read_table(folder / "quarantine" / "stg_events__quarantine.parquet")
            .select(["line_number", "raw_line", "rejection_reason"])
            .to_pylist(),
            key=str,
        )
        for folder in (data, run.data)
    ]
    assert quarantined[0] == quarantined[1] != []
