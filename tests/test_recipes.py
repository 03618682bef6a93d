"""The README's "Add a feature" and "Add an event type", followed in a copy of the project.

The recipes' YAML snippets are taken from README.md itself and put where the recipe says; then
`pitstop run` runs from the copy, as a user would, and the new features are compared with an
independent computation: a plain window count over the clean events (purchases_90d) and over
raw lines written here with known times (checkouts_7d).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from pathlib import Path

import duckdb
import pytest

from pitstop.online.registry import FileRegistry
from pitstop.settings import PROJECT_ROOT
from tests.project_copy import (
    copy_project,
    insert_after_column,
    online_values,
    remove_column,
    run_dbt,
    run_pitstop,
)

README = (PROJECT_ROOT / "README.md").read_text()


def _section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _yaml_blocks(section: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", _section(section), flags=re.DOTALL)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project's code, dbt project and feature repo."""
    return copy_project(tmp_path_factory.mktemp("project"))


def _online_value(data: Path, view: str, feature: str, user: int) -> object:
    return online_values(data, view, "user_id", [user], [feature])[user][feature]


def _stored_features(data: Path, view: str) -> set[str]:
    """The feature names the SQLite online store holds values of for ``view``: the layouts
    its rows name (docs/architecture.md §1, "The online layout")."""
    with sqlite3.connect(data / "online_store.db") as connection:
        rows = connection.execute(
            f'select l.features from "pitstop__{view}" t join "pitstop:layouts" l '
            "on l.id = t.layout group by l.id"
        ).fetchall()
    connection.close()
    return {name for (text,) in rows for name in json.loads(text)}


def test_add_a_feature_then_an_event_type(project: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = ["--data-dir", str(data)]
    run_pitstop(project, "generate", *folder, "--users", "60", "--days", "12", "--seed", "3", "-q")
    run_pitstop(project, "run", *folder)
    marts_yaml = project / "transformations" / "models" / "marts" / "_marts__models.yml"

    # ---- Add a feature: one entry, then `pitstop run` ----
    purchases_90d = _yaml_blocks("Add a feature")[0]  # the second: test_declared_aggregates
    insert_after_column(marts_yaml, "purchases_30d", purchases_90d)
    # Plain dbt on the changed mart stops and names the fix, before anything is written.
    dbt = run_dbt(project, data, "build", "--select", "user_activity")
    assert dbt.returncode != 0
    assert "dbt build --full-refresh --select user_activity" in dbt.stdout
    out = run_pitstop(project, "run", *folder)
    assert "rebuilt user_activity from its inputs: added purchases_90d" in out
    assert out.count("rebuilt ") == 1  # the other marts ran incrementally

    connection = duckdb.connect()
    connection.execute("set TimeZone = 'UTC'")
    connection.execute(f"attach '{data / 'warehouse.duckdb'}' as warehouse (read_only)")
    activity = f"read_parquet('{data / 'features' / 'user_activity' / '*.parquet'}')"
    wrong = connection.execute(
        f"""
        select count(*) from {activity} as a
        where a.purchases_90d is distinct from (
            select count(*) from warehouse.stg_events__events as e
            where e.user_id = a.user_id and e.event_type = 'purchase'
                and e.event_at >= a.event_timestamp - interval 90 days
                and e.event_at < a.event_timestamp
        )
        """
    ).fetchone()
    rows = connection.execute(f"select count(*), sum(purchases_90d) from {activity}").fetchone()
    assert rows is not None and wrong is not None
    assert rows[0] > 0 and rows[1] > 0 and wrong[0] == 0
    latest = connection.execute(
        f"select user_id, purchases_90d from {activity} where purchases_90d > 0 "
        "qualify row_number() over (partition by user_id order by event_timestamp desc) = 1 "
        "order by user_id limit 1"
    ).fetchone()
    assert latest is not None
    assert _online_value(data, "user_activity", "purchases_90d", latest[0]) == latest[1]
    connection.execute("detach warehouse")  # the next build writes it

    # ---- Add an event type: two entries, then `pitstop run` ----
    vocabulary_entry, checkouts_7d = _yaml_blocks("Add an event type")
    dbt_project = project / "transformations" / "dbt_project.yml"
    text = dbt_project.read_text()
    anchor = "    support_ticket: {}\n"
    dbt_project.write_text(text.replace(anchor, anchor + vocabulary_entry, 1))
    insert_after_column(marts_yaml, "purchases_90d", checkouts_7d)
    days = sorted(path.name for path in (data / "raw" / "events").iterdir())
    last_day = dt.date.fromisoformat(days[-1].removeprefix("date="))
    # Checkouts of user 1 on the last two days, arrived with the last partition.
    times = [
        dt.datetime.combine(last_day - dt.timedelta(days=back), dt.time(hour), dt.timezone.utc)
        for back, hour in ((1, 9), (1, 17), (0, 8))
    ]
    lines = [
        json.dumps(
            {
                "event_id": f"checkout-{n}",
                "event_type": "checkout",
                "user_id": 1,
                "ts": when.isoformat(),
            }
        )
        for n, when in enumerate(times)
    ]
    (data / "raw" / "events" / days[-1] / "part-checkouts.jsonl").write_text(
        "\n".join(lines) + "\n"
    )
    out = run_pitstop(project, "run", *folder)
    assert "rebuilt every model from its inputs: the event vocabulary changed" in out

    checkouts = dict(
        connection.execute(
            f"select event_timestamp, checkouts_7d from {activity} where user_id = 1"
        ).fetchall()
    )
    for at, value in checkouts.items():
        expected = sum(at - dt.timedelta(days=7) <= when < at for when in times)
        assert value == expected, at
    assert max(checkouts.values()) == 3
    assert _online_value(data, "user_activity", "checkouts_7d", 1) == checkouts[max(checkouts)]

    # ---- Remove a feature: delete its entry, then `pitstop run` ----
    assert "purchases_90d" in _stored_features(data, "user_activity")
    remove_column(marts_yaml, "purchases_90d")
    out = run_pitstop(project, "run", *folder)
    assert "rebuilt user_activity from its inputs: removed purchases_90d" in out
    built = {
        name for (name, *_) in connection.execute(f"describe select * from {activity}").fetchall()
    }
    registered = FileRegistry(data / "registry.db", "pitstop").read().views["user_activity"]
    assert "purchases_90d" not in built and "checkouts_7d" in built
    assert "purchases_90d" not in {feature.name for feature in registered.features}
    assert "checkouts_7d" in {feature.name for feature in registered.features}
    stored = _stored_features(data, "user_activity")
    assert "purchases_90d" not in stored and "checkouts_7d" in stored
    connection.close()


MAX_PRICE_30D = """\
      - name: max_purchase_price_30d
        data_type: double
        description: "Highest unit price of a purchase in the 30 days before T; null when none."
        config: {meta: {window: {max: price, over: purchase, days: 30}}}
"""


def test_a_feature_added_after_the_horizon_cut_is_built_from_the_raw_log(tmp_path: Path) -> None:
    """The warehouse keeps 5 days of events (PITSTOP_WAREHOUSE_HORIZON_DAYS) of a 12-day log;
    a 30-day max added to user_activity then needs events the warehouse no longer has, so
    `pitstop run` rebuilds every model from the raw log and says why. The mart equals the one
    a fresh project with the feature from the start builds (rebuilt from the trimmed warehouse
    alone, the early snapshots' maxima would miss the dropped purchases)."""
    horizon = {"PITSTOP_WAREHOUSE_HORIZON_DAYS": "5"}
    changed, fresh = copy_project(tmp_path / "changed"), copy_project(tmp_path / "fresh")
    results = []
    for project, data in ((changed, tmp_path / "data-changed"), (fresh, tmp_path / "data-fresh")):
        folder = ["--data-dir", str(data)]
        run_pitstop(project, "generate", *folder, "--users", "60", "--days", "12", "--seed", "3")
        marts_yaml = project / "transformations" / "models" / "marts" / "_marts__models.yml"
        if project == fresh:
            insert_after_column(marts_yaml, "purchases_30d", MAX_PRICE_30D)
        out = run_pitstop(project, "run", *folder, environment=horizon)
        if project == changed:
            insert_after_column(marts_yaml, "purchases_30d", MAX_PRICE_30D)
            out = run_pitstop(project, "run", *folder, environment=horizon)
            assert re.search(
                r"rebuilt every model from its inputs: user_activity changed, and the warehouse "
                r"keeps events from \d{4}-\d\d-\d\d on only",
                out,
            ), out
        activity = data / "features" / "user_activity" / "*.parquet"
        results.append(
            duckdb.sql(
                "select user_id, event_timestamp, max_purchase_price_30d "
                f"from read_parquet('{activity}') order by all"
            ).fetchall()
        )
    assert results[0] == results[1]
    assert any(price is not None for *_, price in results[0])
