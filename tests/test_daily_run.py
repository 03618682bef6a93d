"""The incremental daily run (`pitstop run --date`) against a full rebuild of the same raw files.

One generated log, grown by `append_day` so the new partitions carry late events (event days
already built) and redeliveries of lines from earlier partitions. Built day by day with
``run_date`` in one folder and in one go in another, the feature tables must be identical cell
for cell; running a day again must change nothing.
"""

from __future__ import annotations

import re
import shutil
import threading
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pitstop.build.run import BuildReport, build
from pitstop.errors import BuildError, MissingInputError
from pitstop.generator import append_day, generate_events
from pitstop.settings import Settings
from tests.build.test_build import _digest
from tests.conftest import write_raw_logs

# A session crossing midnight whose second half arrives ten days late, in the daily partition:
# the day before the late event must be recomputed too (its session no longer ends there).
SESSION_ACROSS_MIDNIGHT = {
    "2026-03-03": [
        '{"event_id":"e-cross-1","event_type":"login","user_id":999001,'
        '"ts":"2026-03-03T23:50:00Z","session_id":"s-cross"}'
    ],
    "2026-03-14": [
        '{"event_id":"e-cross-2","event_type":"search","user_id":999001,'
        '"ts":"2026-03-04T00:05:00Z","session_id":"s-cross"}'
    ],
}

# 2026-03-02 is a Monday: the initial build ends on Friday 03-13, then Saturday's partition
# arrives; its run covers up to Sunday 03-15.
START = date(2026, 3, 2)
FIRST_RUN = date(2026, 3, 13)
DAILY_RUN = date(2026, 3, 14)
# Sunday's partition: its run covers up to Monday 03-16 (a day that no longer rewrites all).
MONDAY_RUN = date(2026, 3, 15)


@pytest.fixture(scope="module")
def daily_and_full(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Settings, Settings, BuildReport]:
    """(incremental folder after FIRST_RUN then DAILY_RUN, fully rebuilt folder, daily report)."""
    daily = Settings.from_env(tmp_path_factory.mktemp("daily"))
    generate_events(
        daily, users=400, days=12, seed=11, start=START, dirty_rate=0.02, progress=False
    )
    appended = append_day(
        daily, dirty_rate=0.02, late_share=0.05, redelivery_share=0.03, progress=False
    )
    assert appended.start == DAILY_RUN
    write_raw_logs(daily.data_dir, SESSION_ACROSS_MIDNIGHT, part="part-90000")

    full = Settings.from_env(tmp_path_factory.mktemp("full"))
    shutil.copytree(daily.raw_events_dir, full.raw_events_dir)
    # the full rebuild runs beside the incremental chain (separate warehouses)
    full_build = threading.Thread(target=build, args=(full,), kwargs={"echo": None})
    full_build.start()
    build(daily, run_date=FIRST_RUN, echo=None)
    report = build(daily, run_date=DAILY_RUN, echo=None)
    full_build.join()
    return daily, full, report


def _late_and_redelivered(settings: Settings) -> tuple[int, int]:
    """Clean events of the daily partition for earlier days; its lines first delivered before."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        (late,) = connection.execute(
            "select count(*) from stg_events__events where arrival_date = ? and event_date < ?",
            [DAILY_RUN, DAILY_RUN],
        ).fetchall()[0]
        (redelivered,) = connection.execute(
            "select count(*) from stg_events__lines as l where arrival_date = ? "
            "and rejection_reason is null and exists (select 1 from stg_events__events as e "
            "where e.event_id = l.event_id and e.arrival_date < ?)",
            [DAILY_RUN, DAILY_RUN],
        ).fetchall()[0]
    return int(late), int(redelivered)


def test_daily_run_equals_a_full_rebuild(
    daily_and_full: tuple[Settings, Settings, BuildReport],
) -> None:
    daily, full, report = daily_and_full
    late, redelivered = _late_and_redelivered(daily)
    assert late > 20 and redelivered > 5  # the boundary is really crossed both ways
    assert _digest(daily.features_dir) == _digest(full.features_dir)
    assert _digest(daily.quarantine_dir) == _digest(full.quarantine_dir)
    assert report.counts == build_counts(full)


def build_counts(settings: Settings) -> object:
    from pitstop.build.run import read_line_counts

    return read_line_counts(settings)


def test_running_the_same_date_again_changes_nothing(
    daily_and_full: tuple[Settings, Settings, BuildReport],
) -> None:
    daily, full, _ = daily_and_full
    before = _digest(daily.features_dir)
    build(daily, run_date=DAILY_RUN, echo=None)
    assert _digest(daily.features_dir) == before == _digest(full.features_dir)


def test_a_run_covering_a_monday_equals_a_full_rebuild(
    daily_and_full: tuple[Settings, Settings, BuildReport],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Grows the shared daily folder by a day: keep this test after the others using it."""
    daily, _, _ = daily_and_full
    appended = append_day(
        daily, dirty_rate=0.02, late_share=0.05, redelivery_share=0.03, progress=False
    )
    assert appended.start == MONDAY_RUN
    build(daily, run_date=MONDAY_RUN, echo=None)

    full = Settings.from_env(tmp_path_factory.mktemp("full-monday"))
    shutil.copytree(daily.raw_events_dir, full.raw_events_dir)
    build(full, echo=None)
    assert _digest(daily.features_dir) == _digest(full.features_dir)

    # the Monday was newly covered, and its run did not rewrite every entity: users whose
    # values do not change on it have no row there (no keep-alive rows)
    with duckdb.connect() as connection:
        (without_monday_row,) = connection.execute(
            "select count(distinct user_id) from read_parquet(?) where user_id not in "
            "(select user_id from read_parquet(?) where event_timestamp = '2026-03-16')",
            [str(daily.features_dir / "user_activity" / "*.parquet")] * 2,
        ).fetchone()
    assert without_monday_row > 0


def test_a_file_landing_in_an_old_partition_is_picked_up(
    daily_and_full: tuple[Settings, Settings, BuildReport],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A file arrives in a partition eight days back, beyond the lookback: it holds a late
    event and the earlier delivery of an event first seen in a later partition. The run redoes
    every partition from that one on and equals a full rebuild. Runs after the Monday test."""
    daily, _, _ = daily_and_full
    with duckdb.connect(str(daily.warehouse_path), read_only=True) as connection:
        (event_id, file_path) = connection.execute(
            "select event_id, file_path from stg_events__events "
            "where arrival_date = '2026-03-13' order by event_id limit 1"
        ).fetchone() or ("", "")
    marker = f'"event_id":"{event_id}"'
    redelivered = next(line for line in Path(file_path).read_text().splitlines() if marker in line)
    # nothing arrives before it happens: the earlier delivery's time falls inside its partition
    # (a later one would be quarantined as ts_out_of_range)
    redelivered = re.sub(r'"ts":"[^"]*"', '"ts":"2026-03-06T18:00:00Z"', redelivered)
    late = (
        '{"event_id":"e-late-file","event_type":"purchase","user_id":999002,'
        '"ts":"2026-03-06T12:00:00Z","session_id":"s-late","item_id":3,"price":9.5}'
    )
    write_raw_logs(daily.data_dir, {"2026-03-07": [late, redelivered]}, part="part-90001")
    build(daily, run_date=MONDAY_RUN, echo=None)

    full = Settings.from_env(tmp_path_factory.mktemp("full-late-file"))
    shutil.copytree(daily.raw_events_dir, full.raw_events_dir)
    build(full, echo=None)
    assert _digest(daily.features_dir) == _digest(full.features_dir)
    with duckdb.connect(str(daily.warehouse_path), read_only=True) as connection:
        kept = connection.execute(
            "select event_id, arrival_date from stg_events__events "
            "where event_id in ('e-late-file', ?)",
            [event_id],
        ).fetchall()
    assert sorted(arrival.isoformat() for _, arrival in kept) == ["2026-03-07", "2026-03-07"]


def test_labels_of_a_history_longer_than_thirty_days_equal_a_full_rebuild(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """churn_labels is incremental: with 40 days of history, the next day's run turns the labels
    of the newly covered T (T + 30 days) from null to known, adds the new dates, and applies
    the late events' days; the result equals a full rebuild."""
    daily = Settings.from_env(tmp_path_factory.mktemp("labels-daily"))
    generate_events(daily, users=150, days=40, seed=5, start=START, progress=False)
    # user 999100 is active on 03-02 only, at risk for T in 03-03..04-01, churned at every
    # known T; then an event of 04-01 arrives ten days late: churned_30d turns false from
    # T = 04-01 - 29 days on, and T = 04-02 becomes a label date
    write_raw_logs(
        daily.data_dir, {"2026-03-02": [login(999100, "2026-03-02T10:00:00Z")]}, "part-90000"
    )
    build(daily, echo=None)
    appended = append_day(daily, late_share=0.1, redelivery_share=0.02, progress=False)
    write_raw_logs(
        daily.data_dir,
        {appended.start.isoformat(): [login(999100, "2026-04-01T10:00:00Z")]},
        "part-90000",
    )
    full = Settings.from_env(tmp_path_factory.mktemp("labels-full"))
    shutil.copytree(daily.raw_events_dir, full.raw_events_dir)
    full_build = threading.Thread(target=build, args=(full,), kwargs={"echo": None})
    full_build.start()
    build(daily, run_date=appended.start, echo=None)
    full_build.join()

    assert _digest(daily.features_dir) == _digest(full.features_dir)
    newly_known = f"{date.fromordinal(appended.start.toordinal() + 1 - 30)} 00:00:00+00"
    with duckdb.connect() as connection:
        (known,) = connection.execute(
            "select count(*) from read_parquet(?) where churned_30d is not null "
            "and event_timestamp = cast(? as timestamptz)",
            [str(daily.features_dir / "churn_labels" / "*.parquet"), newly_known],
        ).fetchone() or (0,)
    assert known > 20  # the run really made labels known
    with duckdb.connect() as connection:
        late_user = connection.execute(
            "select strftime(timezone('UTC', event_timestamp), '%m-%d'), churned_30d "
            "from read_parquet(?) "
            "where user_id = 999100 and event_timestamp in "
            "('2026-03-03 00:00:00+00', '2026-04-02 00:00:00+00') order by 1",
            [str(daily.features_dir / "churn_labels" / "*.parquet")],
        ).fetchall()
    assert late_user == [("03-03", False), ("04-02", None)]


def login(user_id: int, ts: str, event_id: str | None = None) -> str:
    """A raw login line of ``user_id`` at ``ts`` (its own session)."""
    event_id = event_id or f"e-{user_id}-{ts}"
    return (
        f'{{"event_id":"{event_id}","event_type":"login","user_id":{user_id},'
        f'"ts":"{ts}","session_id":"s-{event_id}"}}'
    )


def test_a_redelivery_is_found_a_day_before_its_event_day(tmp_path: Path) -> None:
    """The dedup probe reads older partitions from the earliest event day among the run's lines,
    minus one day: an event stamped just after midnight (a client clock a little ahead) was
    first delivered in the previous day's partition, and its redelivery is still a duplicate.
    """
    settings = Settings.from_env(tmp_path)
    ahead = login(7, "2026-03-03T00:30:00Z", "e-ahead")
    write_raw_logs(
        settings.data_dir, {"2026-03-02": [login(8, "2026-03-02T10:00:00Z", "e-1"), ahead]}
    )
    build(settings, run_date=date(2026, 3, 2), echo=None)
    # the next partition: on-time events only, so the run's earliest event day is 03-03
    write_raw_logs(
        settings.data_dir, {"2026-03-03": [login(8, "2026-03-03T09:00:00Z", "e-2"), ahead]}
    )
    report = build(settings, run_date=date(2026, 3, 3), echo=None)

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        kept = connection.execute(
            "select arrival_date from stg_events__events where event_id = 'e-ahead'"
        ).fetchall()
    assert [arrival.isoformat() for (arrival,) in kept] == ["2026-03-02"]
    assert (report.counts.raw_lines, report.counts.duplicate_lines) == (4, 1)


def test_a_late_event_resumes_from_a_row_of_any_age(tmp_path: Path) -> None:
    """A daily run starts each entity from its last row before the resume date, however old.
    User 1 is active on Monday 02-23 only: rows on 02-24 (entry), 02-25 (1-day exit) and 03-03
    (7-day exit), none from 03-04 to 03-15. Its event of Sunday 03-15 arrives on 03-17, the
    earliest new day of that run, so the run resumes it at 03-16 from the row of 03-03, 13 days
    back (a week-bounded read of the old rows would miss it); the result equals a full rebuild."""
    daily = Settings.from_env(tmp_path / "daily")
    partitions = {
        "2026-02-23": [login(1, "2026-02-23T10:00:00Z"), login(2, "2026-02-23T11:00:00Z")],
        "2026-03-16": [login(2, "2026-03-16T11:00:00Z")],
        "2026-03-17": [login(1, "2026-03-15T10:00:00Z"), login(2, "2026-03-17T11:00:00Z")],
    }
    full = Settings.from_env(tmp_path / "full")
    for settings in (daily, full):
        write_raw_logs(settings.data_dir, partitions)
    full_build = threading.Thread(target=build, args=(full,), kwargs={"echo": None})
    full_build.start()
    build(daily, run_date=date(2026, 3, 16), echo=None)
    build(daily, run_date=date(2026, 3, 17), echo=None)
    full_build.join()
    assert _digest(daily.features_dir) == _digest(full.features_dir)
    with duckdb.connect() as connection:
        row = connection.execute(
            "select events_30d, days_active_30d from read_parquet(?) "
            "where user_id = 1 and event_timestamp = '2026-03-16 00:00:00+00'",
            [str(daily.features_dir / "user_activity" / "*.parquet")],
        ).fetchone()
    assert row == (2, 2)  # 02-23 and 03-15 are both in the 30-day window


def test_a_run_carries_settled_rows_and_older_news_reads_the_whole_mart(tmp_path: Path) -> None:
    """A daily run finds an entity's last row among the mart's rows of the last 14 days and its
    settled rows (each entity's latest row before that; macros/settled_rows.sql), which each run
    moves on. User 1 is active on 01-20 only (last row 02-20, settled by the first build), user 4
    on 02-19 (last row 02-27: the 7-day exit, settled by the run of 03-13, which moves the bound
    from 02-25 to 02-28). Both come back late in 03-14's partition: the run carries them from
    settled rows. Then 03-15's partition holds events 21 and 23 days late, older than the bound:
    that run reads the whole mart (user 4 resumes at 02-23, from its row of 02-21, before its
    settled one). Each equals a full rebuild of the same files. A full refresh rebuilds the
    settled rows as well."""
    daily = Settings.from_env(tmp_path / "daily")
    partitions = {
        "2026-01-20": [login(1, "2026-01-20T10:00:00Z")],
        "2026-02-19": [login(4, "2026-02-19T10:00:00Z")],
        **{f"2026-03-{day}": [login(2, f"2026-03-{day}T11:00:00Z")] for day in range(10, 16)},
    }
    partitions["2026-03-14"] += [login(4, "2026-03-12T10:00:00Z"), login(1, "2026-03-13T10:00:00Z")]
    partitions["2026-03-15"] += [login(3, "2026-02-20T10:00:00Z"), login(4, "2026-02-22T10:00:00Z")]

    def settled(user_id: int) -> tuple[str, str]:
        with duckdb.connect(str(daily.warehouse_path), read_only=True) as connection:
            row = connection.execute(
                "select strftime(b.settled_before, '%m-%d'), "
                "strftime(timezone('UTC', s.event_timestamp), '%m-%d') "
                "from user_activity__settled as s, user_activity__settled_before as b "
                "where s.user_id = ?",
                [user_id],
            ).fetchone()
        assert row is not None
        return row[0], row[1]

    def until(last: str) -> dict[str, list[str]]:
        return {day: lines for day, lines in partitions.items() if day <= last}

    def equals_a_full_rebuild(last: str) -> None:
        full = Settings.from_env(tmp_path / f"full-{last}")
        write_raw_logs(full.data_dir, until(last))
        build(full, echo=None)
        assert _digest(daily.features_dir) == _digest(full.features_dir)

    write_raw_logs(daily.data_dir, until("2026-03-13"))
    build(daily, run_date=date(2026, 3, 10), echo=None)
    assert settled(1) == ("02-25", "02-20") and settled(4) == ("02-25", "02-21")
    build(daily, run_date=date(2026, 3, 13), echo=None)
    assert settled(4) == ("02-28", "02-27")  # moved in by the daily run

    write_raw_logs(daily.data_dir, {"2026-03-14": partitions["2026-03-14"]})
    build(daily, run_date=date(2026, 3, 14), echo=None)
    equals_a_full_rebuild("2026-03-14")
    write_raw_logs(daily.data_dir, {"2026-03-15": partitions["2026-03-15"]})
    build(daily, run_date=date(2026, 3, 15), echo=None)
    equals_a_full_rebuild("2026-03-15")
    assert settled(3) == ("03-02", "02-28")  # rebuilt after the run that rewrote older rows

    # a full refresh rebuilds them too: user 5, new in an old partition, gets its settled row
    write_raw_logs(daily.data_dir, {"2026-01-20": [login(5, "2026-01-20T12:00:00Z")]}, "part-1")
    build(daily, run_date=date(2026, 3, 15), full_refresh=True, echo=None)
    assert settled(5) == ("03-02", "02-20")


def test_a_file_replaced_by_a_clean_one_leaves_the_quarantine(tmp_path: Path) -> None:
    """The quarantine is incremental: a partition whose file comes again without its bad line
    loses that line's row, though the run inserts no rejected line for it."""
    settings = Settings.from_env(tmp_path)
    clean = login(8, "2026-03-02T10:00:00Z", "e-1")
    later = login(8, "2026-03-03T10:00:00Z", "e-2")
    write_raw_logs(settings.data_dir, {"2026-03-02": [clean, "{not json"], "2026-03-03": [later]})
    build(settings, echo=None)
    quarantine = str(settings.quarantine_dir / "stg_events__quarantine.parquet")
    with duckdb.connect() as connection:
        assert connection.execute(
            "select count(*) from read_parquet(?)", [quarantine]
        ).fetchone() == (1,)

    write_raw_logs(settings.data_dir, {"2026-03-02": [clean]})  # the same file, rewritten
    build(settings, echo=None)
    with duckdb.connect() as connection:
        assert connection.execute(
            "select count(*) from read_parquet(?)", [quarantine]
        ).fetchone() == (0,)


def test_a_run_date_without_its_partition_is_refused(tmp_path: Path) -> None:
    settings = Settings.from_env(tmp_path)
    generate_events(settings, users=5, days=2, seed=1, start=START, progress=False)
    with pytest.raises(MissingInputError, match="no raw logs for 2026-03-09"):
        build(settings, run_date=date(2026, 3, 9), echo=None)


# A horizon shorter than the 40-day log below: the staging tables are cut on every build.
HORIZON = 36


def _staged(settings: Settings) -> tuple[date, int, int, date]:
    """(kept_from, partitions and rows of stg_events__lines, its oldest partition)."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        (kept_from,) = connection.execute("select kept_from from pitstop_horizon").fetchone() or (
            None,
        )
        partitions, rows, oldest = connection.execute(
            "select count(distinct arrival_date), count(*), min(arrival_date) "
            "from stg_events__lines"
        ).fetchone() or (0, 0, None)
    return kept_from, int(partitions), int(rows), oldest


def test_a_warehouse_cut_at_its_horizon_equals_a_full_rebuild(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """40 days of history, a 36-day horizon: the builds drop the staging rows of the partitions
    before the newest minus 36 days, the daily runs (late events, redeliveries) still equal a
    full rebuild cell for cell, and the staging tables hold the same number of partitions
    whatever the history. A raw file arriving late in a partition the warehouse no longer holds
    is refused, naming `pitstop build --full-refresh`, which then takes it in."""
    daily = replace(
        Settings.from_env(tmp_path_factory.mktemp("horizon-daily")), warehouse_horizon_days=HORIZON
    )
    generate_events(daily, users=120, days=40, seed=7, start=START, progress=False)
    build(daily, echo=None)
    first = _staged(daily)
    last = START
    for _ in range(2):
        last = append_day(daily, late_share=0.05, redelivery_share=0.03, progress=False).start
        build(daily, run_date=last, echo=None)
    kept_from, partitions, rows, oldest = _staged(daily)
    assert kept_from == last - timedelta(days=HORIZON) == oldest
    assert partitions == first[1] == HORIZON + 1  # bounded by the horizon, not the history
    assert rows < first[2] * 1.2

    full = replace(
        Settings.from_env(tmp_path_factory.mktemp("horizon-full")), warehouse_horizon_days=HORIZON
    )
    shutil.copytree(daily.raw_events_dir, full.raw_events_dir)
    build(full, echo=None)
    assert _digest(daily.features_dir) == _digest(full.features_dir)
    assert _digest(daily.quarantine_dir) == _digest(full.quarantine_dir)
    assert build_counts(daily) == build_counts(full)
    with duckdb.connect(str(daily.warehouse_path), read_only=True) as connection:
        assert connection.execute(
            "select count(*) from stg_events__lines where rejection_reason is null "
            "and raw_line is not null"
        ).fetchone() == (0,)  # raw text only where a line is quarantined

    old = last - timedelta(days=HORIZON + 2)
    write_raw_logs(
        daily.data_dir, {old.isoformat(): [login(999300, f"{old}T10:00:00Z")]}, "part-90002"
    )
    before = _digest(daily.features_dir)
    with pytest.raises(BuildError, match=rf"date={old}.*`pitstop build --full-refresh`$"):
        build(daily, run_date=last, echo=None)
    assert _digest(daily.features_dir) == before
    build(daily, run_date=last, full_refresh=True, echo=None)
    with duckdb.connect() as connection:
        (rows_of_late_user,) = connection.execute(
            "select count(*) from read_parquet(?) where user_id = 999300",
            [str(daily.features_dir / "user_profile" / "*.parquet")],
        ).fetchone() or (0,)
    assert rows_of_late_user > 0  # the full refresh took the late file in


def test_a_daily_run_after_plain_dbt_rewrites_the_whole_table(tmp_path: Path) -> None:
    """Plain `dbt build` leaves a mart as whole-table files (data_<n>.parquet); the next daily
    run has no partitions to merge its changed ones into, so it writes the table whole, not
    its new days beside an old copy of them."""
    settings = Settings.from_env(tmp_path)
    generate_events(settings, users=200, days=5, seed=3, start=START, progress=False)
    build(settings, echo=None)
    table = settings.features_dir.resolve() / "user_activity"
    whole = duckdb.sql(f"select * from read_parquet('{table}/*.parquet')").to_arrow_table()
    for file in table.iterdir():
        file.unlink()
    pq.write_table(whole, table / "data_0.parquet")  # as plain dbt writes it
    append_day(settings, progress=False)
    build(settings, echo=None)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        published = f"read_parquet('{settings.features_dir / 'user_activity'}/*.parquet')"
        (extra,) = connection.execute(
            f"select count(*) from (from {published} except all from user_activity)"
        ).fetchone() or (0,)
        (missing,) = connection.execute(
            f"select count(*) from (from user_activity except all from {published})"
        ).fetchone() or (0,)
    assert (extra, missing) == (0, 0)
    assert not (settings.features_dir / "user_activity" / "data_0.parquet").exists()
