"""Declared features that do not add up (macros/event_aggregates.sql), in a copy of the project.

README "Add a feature" declares a count distinct, a max and a latest value; this test adds them
and a lifetime count distinct, a lifetime min and an item's distinct viewers, runs
`pitstop run` on a generated log, appends a day and runs again (incrementally), and then
checks, for every entity at every midnight of the data, the value a point-in-time lookup of
the feature table gives against a plain SQL computation over the clean events: no row
missing where a value changes, no value invented where no event has one (null, or 0 for a
count), the same after the incremental run as a full build would give.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from pitstop.online.registry import FileRegistry
from pitstop.settings import PROJECT_ROOT
from tests.project_copy import (
    copy_project,
    insert_after_column,
    online_values,
    run_dbt,
    run_pitstop,
)

README = (PROJECT_ROOT / "README.md").read_text()
ADD_A_FEATURE = README.split("## Add a feature\n", 1)[1].split("\n## ", 1)[0]
[_, AGGREGATES] = re.findall(r"```yaml\n(.*?)```", ADD_A_FEATURE, flags=re.DOTALL)

PROFILE = """\
      - name: countries_seen
        data_type: bigint
        description: "Distinct countries of the user's events before T."
        config: {meta: {window: {distinct: country}}}
      - name: lowest_price_paid
        data_type: double
        description: "Lowest unit price of the user's purchases before T; null when none."
        config: {meta: {window: {min: price, over: purchase}}}
"""
ITEM = """\
      - name: item_viewers_7d
        data_type: bigint
        description: "Distinct users who viewed the item in the 7 days before T."
        config: {meta: {window: {distinct: user_id, over: page_view, days: 7}}}
"""

# Each feature's value at T from the clean events `e` of the entity before T, written plainly.
# {key} is the entity key, {t} the lookup time; the windows are T - N days <= event_at < T.
EXPECTED = {
    "user_activity": {
        "items_viewed_7d": "select count(distinct item_id) from events as e where e.user_id = "
        "{key} and e.event_type = 'page_view' and e.event_at >= {t} - interval 7 days "
        "and e.event_at < {t}",
        "max_purchase_price_30d": "select max(price) from events as e where e.user_id = {key} "
        "and e.event_type = 'purchase' and e.event_at >= {t} - interval 30 days "
        "and e.event_at < {t}",
        "last_device": "select device from events as e where e.user_id = {key} "
        "and e.device is not null and e.event_at < {t} "
        "order by e.event_at desc, e.event_id desc limit 1",
    },
    "user_profile": {
        "countries_seen": "select count(distinct country) from events as e "
        "where e.user_id = {key} and e.event_at < {t}",
        "lowest_price_paid": "select min(price) from events as e where e.user_id = {key} "
        "and e.event_type = 'purchase' and e.event_at < {t}",
    },
    "item_popularity": {
        "item_viewers_7d": "select count(distinct user_id) from events as e "
        "where e.item_id = {key} and e.event_type = 'page_view' "
        "and e.event_at >= {t} - interval 7 days and e.event_at < {t}",
    },
}
KEYS = {"user_activity": "user_id", "user_profile": "user_id", "item_popularity": "item_id"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy with the aggregates declared, run, a day appended and run again."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    marts = project / "transformations" / "models" / "marts" / "_marts__models.yml"
    insert_after_column(marts, "support_tickets_30d", AGGREGATES)
    insert_after_column(marts, "last_purchase_at", PROFILE)
    insert_after_column(marts, "item_revenue_7d", ITEM)
    data = tmp_path_factory.mktemp("data")
    folder = ["--data-dir", str(data)]
    run_pitstop(project, "generate", *folder, "--users", "60", "--days", "12", "--seed", "5", "-q")
    run_pitstop(project, "run", *folder)
    run_pitstop(project, "generate", *folder, "--users", "60", "--seed", "5", "--append-day", "-q")
    out = run_pitstop(project, "run", *folder)
    assert "rebuilt" not in out  # the second run is incremental
    return data


def _wrong_lookups(data: Path, view: str, feature: str) -> tuple[int, int, int, int]:
    """(lookups, wrong, null, non-zero) over every entity of ``view`` at every midnight from
    its first row to the data's coverage end, each looked up as a point-in-time join would:
    the latest row at or before the midnight."""
    key = KEYS[view]
    connection = duckdb.connect()
    connection.execute("set TimeZone = 'UTC'")
    connection.execute(f"attach '{data / 'warehouse.duckdb'}' as warehouse (read_only)")
    connection.execute("create temp view events as select * from warehouse.stg_events__events")
    table = f"read_parquet('{data / 'features' / view}/*.parquet')"
    expected = EXPECTED[view][feature].format(key=f"grid.{key}", t="grid.t")
    row = connection.execute(
        f"""
        with grid as (
            select {key}, unnest(generate_series(first_t, end_t, interval 1 day)) as t
            from (select {key}, min(event_timestamp) as first_t from {table} group by {key})
            cross join (
                select cast(coverage_end_date as timestamptz) as end_t
                from warehouse.int_data_coverage
            )
        ),
        looked_up as (
            select grid.{key}, grid.t, (
                select {feature} from {table} as f
                where f.{key} = grid.{key} and f.event_timestamp <= grid.t
                order by f.event_timestamp desc limit 1
            ) as value, ({expected}) as truth
            from grid
        )
        select count(*), count(*) filter (where value is distinct from truth),
            count(*) filter (where value is null),
            count(*) filter (where value is not null and cast(value as varchar) <> '0')
        from looked_up
        """
    ).fetchone()
    connection.close()
    assert row is not None
    return row


@pytest.mark.parametrize(
    ("view", "feature"),
    [(view, feature) for view, features in EXPECTED.items() for feature in features],
)
def test_every_lookup_matches_the_events(built: Path, view: str, feature: str) -> None:
    lookups, wrong, nulls, non_zero = _wrong_lookups(built, view, feature)
    assert lookups > 100 and wrong == 0, f"{wrong} of {lookups} lookups of {feature} are wrong"
    assert non_zero > 0  # the feature has values to get wrong
    if feature.startswith(("max_", "lowest_")):
        assert nulls > 0  # no event with a value: null, never an invented 0


def test_registry_and_online_store_carry_them(built: Path) -> None:
    registry = FileRegistry(built / "registry.db", "pitstop").read()
    for view, features in EXPECTED.items():
        registered = {feature.name: feature for feature in registry.views[view].features}
        assert set(features) <= set(registered)
    dtypes = {f.name: f.value_type for f in registry.views["user_activity"].features}
    assert dtypes["last_device"] == "STRING" and dtypes["items_viewed_7d"] == "INT64"

    connection = duckdb.connect()
    table = f"read_parquet('{built / 'features' / 'user_activity' / '*.parquet'}')"
    user, items, device = connection.execute(
        f"select user_id, items_viewed_7d, last_device from {table} "
        "where event_timestamp <= now() "  # materialize writes the rows up to now
        "qualify row_number() over (partition by user_id order by event_timestamp desc) = 1 "
        "order by items_viewed_7d desc, user_id limit 1"
    ).fetchone() or (None, None, None)
    online = online_values(
        built, "user_activity", "user_id", [user], ["items_viewed_7d", "last_device"]
    )
    assert online[user] == {"items_viewed_7d": items, "last_device": device}


def test_a_wrong_declaration_names_the_column_and_the_fix(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    marts = project / "transformations" / "models" / "marts" / "_marts__models.yml"
    wrong = AGGREGATES.replace("{max: price, over: purchase", "{max: price, over: search")
    insert_after_column(marts, "support_tickets_30d", wrong)
    result = run_dbt(project, tmp_path / "data", "compile", "--select", "user_activity")
    assert result.returncode != 0
    assert (
        "user_activity.max_purchase_price_30d: `max: price` over search: every type it reads "
        "must carry price" in " ".join(result.stdout.split())
    )
