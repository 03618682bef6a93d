"""Training sets on the hand-made log of tests/trap_log.py, with known answers.

Every trap of tests/test_features.py is asked again, through ``pitstop training-set``
(:func:`build_training_set` and the CLI) and through Feast's own
``FeatureStore.get_historical_features``; both must give the known values. Entity rows sit
exactly at a snapshot (T) and one microsecond before it: the row before T must not see T.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import sys
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pitstop.cli import main
from pitstop.errors import InvalidInputError, MissingInputError, UnknownFeatureServiceError
from pitstop.feast_adapter import repo
from pitstop.offline import TrainingSetReport, build_training_set
from pitstop.settings import Settings
from tests import machine

JUST_BEFORE = dt.timedelta(microseconds=1)

# (case, user_id, item_id, lookup time). Deliberately not sorted: the output keeps this order.
CASES: list[tuple[str, int, int, str]] = [
    ("midnight_unseen", 1, 100, "2026-03-10T12:00:00Z"),
    ("midnight_at_T", 1, 100, "2026-03-11T00:00:00Z"),
    ("midnight_before_T", 1, 100, "2026-03-10T23:59:59.999999Z"),
    ("midnight_end_of_day", 1, 100, "2026-03-11T23:59:59Z"),
    ("midnight_next_day", 1, 100, "2026-03-12T00:00:00Z"),
    ("edge_first_T", 2, 100, "2026-03-02T00:00:00Z"),
    ("edge_before_first_T", 2, 100, "2026-03-01T23:59:59.999999Z"),
    ("edge_7d_last", 2, 100, "2026-03-08T23:59:59.999999Z"),
    ("edge_7d_out", 2, 100, "2026-03-09T00:00:00Z"),
    ("edge_30d_last", 2, 100, "2026-03-31T23:59:59Z"),
    ("edge_30d_out", 2, 100, "2026-04-01T00:00:00Z"),
    ("silent_50_days", 2, 100, "2026-04-20T12:00:00Z"),
    ("late_on_time", 3, 100, "2026-03-05T06:00:00Z"),
    ("late_arrived", 3, 100, "2026-03-06T06:00:00Z"),
    ("duplicate_13", 4, 101, "2026-03-13T00:00:00Z"),
    ("duplicate_15", 4, 101, "2026-03-15T00:00:00Z"),
    ("duplicate_lifetime", 4, 101, "2026-04-01T00:00:00Z"),
    ("offset_first", 5, 100, "2026-03-16T00:00:00Z"),
    ("offset_second", 5, 100, "2026-03-17T00:00:00Z"),
    ("no_offset", 5, 100, "2026-03-19T00:00:00Z"),
    ("refund", 6, 102, "2026-03-22T00:00:00Z"),
    ("sessions_04", 7, 100, "2026-03-04T00:00:00Z"),
    ("sessions_05", 7, 100, "2026-03-05T00:00:00Z"),
    ("sessions_11", 7, 100, "2026-03-11T00:00:00Z"),
    ("sessions_12", 7, 100, "2026-03-12T00:00:00Z"),
    ("no_history", 999, 999, "2026-03-15T00:00:00Z"),
    ("duplicate_row", 1, 100, "2026-03-11T00:00:00Z"),
    ("item_at_T", 10, 100, "2026-03-02T00:00:00Z"),
    ("item_before_T", 10, 100, "2026-03-01T23:00:00Z"),
    ("item_week_later", 10, 100, "2026-03-09T00:00:00Z"),
]

# case -> feature -> value; None means null (no snapshot before the row's time).
USER_ANSWERS: dict[str, dict[str, Any]] = {
    "midnight_unseen": {"events_1d": None, "events_30d": None, "first_seen_at": None},
    "midnight_at_T": {"events_1d": 2, "events_7d": 2, "hours_since_last_event": 0.001 / 3600},
    "midnight_before_T": {"events_1d": None, "last_event_at": None},  # T is not visible yet
    "midnight_end_of_day": {"events_1d": 2},
    "midnight_next_day": {"events_1d": 0, "events_7d": 2},
    "edge_first_T": {"events_1d": 1, "events_7d": 1, "events_30d": 1, "days_active_30d": 1},
    "edge_before_first_T": {"events_1d": None, "events_7d": None},
    "edge_7d_last": {"events_1d": 0, "events_7d": 1, "events_30d": 1},
    "edge_7d_out": {"events_1d": 0, "events_7d": 0, "events_30d": 1},
    "edge_30d_last": {"events_7d": 0, "events_30d": 1, "days_active_30d": 1},
    "edge_30d_out": {"events_30d": 0, "days_active_30d": 0},
    # a true zero stays a zero (its row of 04-01 holds until a change), not a missing value
    "silent_50_days": {
        "events_30d": 0,
        "sessions_7d": 0,
        "revenue_30d": 0.0,
        "avg_order_value_30d": None,
        "lifetime_purchases": 0,
        "last_purchase_at": None,
    },
    "late_on_time": {"events_1d": 1, "events_7d": 1},
    "late_arrived": {"events_1d": 1, "events_7d": 2},
    "duplicate_13": {"events_7d": 1, "purchases_7d": 1, "revenue_7d": 25.0},
    "duplicate_15": {"events_7d": 1, "purchases_7d": 1, "revenue_7d": 25.0},
    "duplicate_lifetime": {"lifetime_purchases": 1, "lifetime_revenue": 25.0},
    "offset_first": {"events_1d": 1},
    "offset_second": {
        "events_1d": 1,
        "events_7d": 2,
        "first_seen_at": "2026-03-15T22:30:00Z",
        "last_event_at": "2026-03-16T01:30:00Z",
        "days_since_first_seen": 1.0625,
    },
    "no_offset": {
        "events_1d": 1,
        "last_event_at": "2026-03-18T23:59:00Z",
        "hours_since_last_event": 1 / 60,
    },
    "refund": {
        "events_7d": 2,
        "purchases_7d": 1,
        "revenue_7d": 20.0,
        "avg_order_value_30d": 20.0,
        "lifetime_purchases": 1,
        "lifetime_revenue": 20.0,
        "last_purchase_at": "2026-03-20T10:00:00Z",
    },
    "sessions_04": {"sessions_7d": 1},
    "sessions_05": {"sessions_7d": 2},  # a session crossing midnight counts once
    "sessions_11": {"sessions_7d": 2},
    "sessions_12": {"sessions_7d": 0},
    "duplicate_row": {"events_1d": 2},
}

ITEM_ANSWERS: dict[str, dict[str, Any]] = {
    "item_at_T": {
        "item_views_7d": 2,
        "item_add_to_carts_7d": 1,
        "item_purchases_7d": 1,
        "item_revenue_7d": 5.0,
        "item_conversion_rate_7d": 0.5,
    },
    "item_before_T": {"item_views_7d": None},
    "item_week_later": {"item_views_7d": 0, "item_conversion_rate_7d": None},
    "duplicate_13": {"item_purchases_7d": 1, "item_revenue_7d": 25.0},
    "no_history": {"item_views_7d": None, "item_conversion_rate_7d": None},
}

RECENCY_FEATURES = ("hours_since_last_event", "days_since_first_seen")  # churn_v1 only
CHURN_V1_INTEGER_FEATURES = ("events_1d", "events_7d", "sessions_7d", "lifetime_purchases")


def _entity_frame() -> pd.DataFrame:
    frame = pd.DataFrame(CASES, columns=["case", "user_id", "item_id", "event_timestamp"])
    frame["event_timestamp"] = pd.to_datetime(
        frame["event_timestamp"], utc=True, format="ISO8601"
    ).astype("datetime64[us, UTC]")
    frame["label"] = range(100, 100 + len(frame))  # an extra column that must pass through
    return frame


def _value(frame: pd.DataFrame, case: str, feature: str) -> Any:
    values = frame.loc[frame["case"] == case, feature].tolist()
    assert values, case
    value = values[0]
    return None if pd.isna(value) else value


def _assert_answers(frame: pd.DataFrame, answers: dict[str, dict[str, Any]]) -> None:
    wrong = []
    for case, expected in answers.items():
        for feature, want in expected.items():
            got = _value(frame, case, feature)
            if isinstance(want, str):
                want = pd.Timestamp(want)
            ok = (
                got is None
                if want is None
                else got is not None and math.isclose(float(got), float(want), rel_tol=1e-9)
                if isinstance(want, float)
                else got == want
            )
            if not ok:
                wrong.append(f"{case}.{feature}: got {got!r}, want {want!r}")
    assert not wrong, "\n".join(wrong)


@pytest.fixture(scope="module")
def entity_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("entities")
    frame = _entity_frame()
    parquet = folder / "entities.parquet"
    frame.to_parquet(parquet, index=False)
    csv = folder / "entities.csv"
    naive = frame.copy()
    # zone-less text (read as UTC), one row with an offset that converts to the same instant
    naive["event_timestamp"] = frame["event_timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    naive.loc[1, "event_timestamp"] = "2026-03-11T02:00:00+02:00"
    naive.to_csv(csv, index=False)
    return {"parquet": parquet, "csv": csv}


@pytest.fixture(scope="module")
def churn_set(
    trap_store: Settings, entity_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainingSetReport, pd.DataFrame]:
    out = tmp_path_factory.mktemp("out") / "churn_v1.parquet"
    report = build_training_set(
        trap_store, feature_service="churn_v1", entities=entity_files["parquet"], out=out
    )
    return report, pd.read_parquet(out)


@pytest.fixture(scope="module")
def ranking_set(
    trap_store: Settings, entity_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("out") / "ranking_v1.parquet"
    build_training_set(
        trap_store, feature_service="ranking_v1", entities=entity_files["parquet"], out=out
    )
    return pd.read_parquet(out)


@pytest.fixture(scope="module")
def feast_churn_set(trap_store: Settings) -> pd.DataFrame:
    """The same entity rows through Feast's SDK directly, as a training job would."""
    store = repo.open_store(trap_store)
    entity_df = _entity_frame()
    entity_df["request_time"] = entity_df["event_timestamp"]
    with warnings.catch_warnings():
        # ibis (under Feast's DuckDB store) calls a method DuckDB 2.0 deprecates
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ibis(\.|$)")
        job = store.get_historical_features(
            entity_df=entity_df, features=store.get_feature_service("churn_v1")
        )
        return job.to_df()


# ---- known answers ---------------------------------------------------------------------------


def test_churn_v1_known_answers(churn_set: tuple[TrainingSetReport, pd.DataFrame]) -> None:
    _, frame = churn_set
    _assert_answers(frame, USER_ANSWERS)


def test_ranking_v1_known_answers_for_users_and_items(ranking_set: pd.DataFrame) -> None:
    batch_answers = {
        case: {name: value for name, value in answers.items() if name not in RECENCY_FEATURES}
        for case, answers in USER_ANSWERS.items()
    }
    _assert_answers(ranking_set, batch_answers)
    _assert_answers(ranking_set, ITEM_ANSWERS)
    # ranking_v1 has no on-demand view: nothing request-time in it
    assert "hours_since_last_event" not in ranking_set.columns


def test_feast_sdk_gives_the_same_known_answers(
    feast_churn_set: pd.DataFrame, churn_set: tuple[TrainingSetReport, pd.DataFrame]
) -> None:
    _assert_answers(feast_churn_set, USER_ANSWERS)
    _, ours = churn_set
    theirs = feast_churn_set.set_index("case").loc[ours["case"].drop_duplicates()]
    mine = ours.drop_duplicates("case").set_index("case")
    for feature in (f for f in mine.columns if f in theirs.columns and f != "label"):
        pd.testing.assert_series_equal(
            mine[feature].astype("object").where(mine[feature].notna(), None),
            theirs[feature].astype("object").where(theirs[feature].notna(), None),
            check_names=False,
            check_index=True,
        )


def test_entity_with_no_history_gets_only_nulls(
    churn_set: tuple[TrainingSetReport, pd.DataFrame],
) -> None:
    report, frame = churn_set
    row = frame[frame["case"] == "no_history"]
    assert len(row) == 1
    assert row[report.features].isna().all(axis=None)


def test_row_just_before_a_snapshot_does_not_see_it(
    churn_set: tuple[TrainingSetReport, pd.DataFrame],
) -> None:
    _, frame = churn_set
    at_t = frame[frame["case"] == "edge_first_T"].iloc[0]
    before = frame[frame["case"] == "edge_before_first_T"].iloc[0]
    assert at_t["event_timestamp"] - before["event_timestamp"] == JUST_BEFORE
    assert at_t["events_1d"] == 1
    assert pd.isna(before["events_1d"]) and pd.isna(before["first_seen_at"])
    # and one microsecond before 03-09 the 7-day window still holds the 03-01 event
    assert _value(frame, "edge_7d_last", "events_7d") == 1
    assert _value(frame, "edge_7d_out", "events_7d") == 0


# ---- shape: order, pass-through, duplicates, types ---------------------------------------------


def test_rows_keep_the_entity_file_order_and_extra_columns(
    churn_set: tuple[TrainingSetReport, pd.DataFrame],
) -> None:
    report, frame = churn_set
    entities = _entity_frame()
    assert report.rows == len(entities)
    assert list(frame.columns[:5]) == ["case", "user_id", "item_id", "event_timestamp", "label"]
    pd.testing.assert_frame_equal(frame[entities.columns], entities)
    assert "request_time" not in frame.columns  # filled in for Feast, not written out
    assert report.columns == list(frame.columns)


def test_duplicate_entity_rows_are_both_kept(
    churn_set: tuple[TrainingSetReport, pd.DataFrame],
) -> None:
    _, frame = churn_set
    first = frame[frame["case"] == "midnight_at_T"].drop(columns=["case", "label"])
    again = frame[frame["case"] == "duplicate_row"].drop(columns=["case", "label"])
    pd.testing.assert_frame_equal(first.reset_index(drop=True), again.reset_index(drop=True))


def test_integer_features_are_nullable_integers(
    churn_set: tuple[TrainingSetReport, pd.DataFrame],
) -> None:
    _, frame = churn_set
    for feature in CHURN_V1_INTEGER_FEATURES:
        assert str(frame[feature].dtype) == "Int64", feature
    assert str(frame["revenue_7d"].dtype) == "float64"
    assert str(frame["last_event_at"].dtype) == "datetime64[us, UTC]"
    assert str(frame["event_timestamp"].dtype) == "datetime64[us, UTC]"


def test_null_share_is_reported(churn_set: tuple[TrainingSetReport, pd.DataFrame]) -> None:
    report, frame = churn_set
    assert report.null_share["events_1d"] == pytest.approx(frame["events_1d"].isna().mean())
    assert 0 < report.null_share["events_1d"] < 1


def test_csv_with_naive_timestamps_equals_parquet_with_utc(
    trap_store: Settings,
    entity_files: dict[str, Path],
    churn_set: tuple[TrainingSetReport, pd.DataFrame],
    tmp_path: Path,
) -> None:
    notes: list[str] = []
    out = tmp_path / "from_csv.parquet"
    build_training_set(
        trap_store,
        feature_service="churn_v1",
        entities=entity_files["csv"],
        out=out,
        echo=notes.append,
    )
    _, from_parquet = churn_set
    pd.testing.assert_frame_equal(pd.read_parquet(out), from_parquet)
    assert len(notes) == 1 and "read as UTC" in notes[0] and "event_timestamp" in notes[0]


def _cli_churn_set(store: Settings, entities: Path, out: Path) -> int:
    """`pitstop training-set` of churn_v1, in this process (its exit code)."""
    args = ["--data-dir", str(store.data_dir), "--feature-service", "churn_v1"]
    return main(["training-set", *args, "--entities", str(entities), "--out", str(out)])


def test_cli_training_set(
    trap_store: Settings,
    entity_files: dict[str, Path],
    churn_set: tuple[TrainingSetReport, pd.DataFrame],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "cli.parquet"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # the stages go to a terminal
    code = _cli_churn_set(trap_store, entity_files["csv"], out)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"{len(CASES)} rows" in captured.out
    assert "events_1d" in captured.out  # the null-share lines
    notes = [line for line in captured.err.splitlines() if "read as UTC" in line]
    assert len(notes) == 1
    # the progress (issue 21): the stages, then the rows joined
    assert "pitstop training-set: opening the feature store" in captured.err
    assert "training-set churn_v1: 100%|" in captured.err
    pd.testing.assert_frame_equal(pd.read_parquet(out), churn_set[1])


def test_a_read_only_data_folder_gives_the_same_training_set(
    trap_store: Settings,
    entity_files: dict[str, Path],
    churn_set: tuple[TrainingSetReport, pd.DataFrame],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A training set only reads the data folder, but it wrote feast/feature_store.yaml there
    first: on a read-only copy it was a PermissionError. Here the copy sits on a file system
    mounted read-only (root ignores file modes)."""
    size = machine.folder_bytes(trap_store.data_dir) + 64 * 2**20
    with machine.tmpfs(tmp_path / "ro", size_bytes=size) as data:
        machine.copy_into(trap_store.data_dir, data)
        machine.read_only(data)
        out = tmp_path / "from-read-only.parquet"
        code = _cli_churn_set(Settings.from_env(data), entity_files["csv"], out)
        captured = capsys.readouterr()
    assert code == 0, captured.err
    pd.testing.assert_frame_equal(pd.read_parquet(out), churn_set[1])


# ---- errors ------------------------------------------------------------------------------------


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize(
    ("service", "change", "error", "names"),
    [
        (
            "churn_v1",
            lambda f: f.drop(columns=["event_timestamp"]),
            InvalidInputError,
            "event_timestamp",
        ),
        ("churn_v1", lambda f: f.drop(columns=["user_id"]), InvalidInputError, "user_id"),
        ("ranking_v1", lambda f: f.drop(columns=["item_id"]), InvalidInputError, "item_id"),
        (
            "churn_v1",
            lambda f: f.assign(user_id=f["user_id"].astype(str)),
            InvalidInputError,
            "user_id",
        ),
        (
            "churn_v1",
            lambda f: f.assign(event_timestamp=range(len(f))),
            InvalidInputError,
            "event_timestamp",
        ),
        ("churn_v1", lambda f: f.assign(events_7d=1), InvalidInputError, "events_7d"),
        ("churn_v2", lambda f: f, UnknownFeatureServiceError, "churn_v1, ranking_v1"),
    ],
    ids=[
        "no-event_timestamp",
        "no-user_id",
        "ranking-no-item_id",
        "string-user_id",
        "integer-timestamps",
        "column-named-like-a-feature",
        "unknown-service",
    ],
)
def test_bad_entity_files_fail_in_one_line(
    trap_store: Settings,
    tmp_path: Path,
    service: str,
    change: Any,
    error: type[Exception],
    names: str,
) -> None:
    entities = _write(change(_entity_frame()), tmp_path / "entities.parquet")
    with pytest.raises(error) as raised:
        build_training_set(
            trap_store, feature_service=service, entities=entities, out=tmp_path / "out.parquet"
        )
    message = str(raised.value)
    assert names in message and "\n" not in message
    assert not (tmp_path / "out.parquet").exists()


def test_the_entity_file_is_not_overwritten_by_the_result(
    trap_store: Settings, tmp_path: Path
) -> None:
    entities = _write(_entity_frame(), tmp_path / "entities.parquet")
    before = entities.read_bytes()
    with pytest.raises(InvalidInputError, match="is the entity file"):
        build_training_set(
            trap_store,
            feature_service="churn_v1",
            entities=entities,
            out=tmp_path / "." / entities.name,
        )
    assert entities.read_bytes() == before


def test_out_a_directory_is_refused_before_the_work(trap_store: Settings, tmp_path: Path) -> None:
    entities = _write(_entity_frame(), tmp_path / "entities.parquet")
    with pytest.raises(InvalidInputError, match="is a directory"):
        build_training_set(trap_store, feature_service="churn_v1", entities=entities, out=tmp_path)
    with pytest.raises(InvalidInputError, match="entities.parquet is a file, not a folder"):
        build_training_set(
            trap_store,
            feature_service="churn_v1",
            entities=entities,
            out=entities / "sub" / "out.parquet",
        )


def test_csv_encodings(trap_store: Settings, tmp_path: Path) -> None:
    """A spreadsheet's byte-order mark is read as UTF-8; Latin-1 or binary is one line."""
    frame = _entity_frame()
    text = frame.to_csv(index=False)
    with_bom = tmp_path / "bom.csv"
    with_bom.write_bytes(b"\xef\xbb\xbf" + text.encode())
    report = build_training_set(
        trap_store, feature_service="churn_v1", entities=with_bom, out=tmp_path / "bom.parquet"
    )
    assert report.rows == len(frame)
    assert pd.read_parquet(report.path).columns[0] == frame.columns[0]
    for name, content in {
        "latin1.csv": ("caf\xe9," + text).encode("latin-1"),
        "binary.csv": bytes(range(256)) * 4,
    }.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InvalidInputError, match="is not a UTF-8 CSV file") as raised:
            build_training_set(
                trap_store,
                feature_service="churn_v1",
                entities=tmp_path / name,
                out=tmp_path / "o.parquet",
            )
        assert "\n" not in str(raised.value)


def test_cli_names_what_the_machine_refused(
    trap_store: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An OSError is one line, not a stack trace: here a folder even root cannot write to
    (sysfs), as a read-only data folder or a full disk would be."""
    entities = _write(_entity_frame(), tmp_path / "entities.parquet")
    out = Path("/sys/pitstop-training-set.parquet")
    code = _cli_churn_set(trap_store, entities, out)
    err = capsys.readouterr().err
    assert code == 1
    last = err.splitlines()[-1]  # after the progress lines
    assert last.startswith("pitstop training-set: ") and "Permission denied" in last
    assert "check the permissions" in last and "/sys/" in last
    assert "Traceback" not in err
    assert not out.exists()


def test_a_full_disk_is_one_line(
    trap_store: Settings,
    entity_files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--out` on a file system with no space left (a tmpfs filled up): it was a stack trace
    (OSError 28)."""
    with machine.tmpfs(tmp_path / "full", size_bytes=64 * 2**10) as disk:
        with contextlib.suppress(OSError):
            (disk / "filler").write_bytes(b"\0" * 2**20)
        out = disk / "set.parquet"
        code = _cli_churn_set(trap_store, entity_files["csv"], out)
        err = capsys.readouterr().err.splitlines()[-1]
        assert code == 1, err
        assert err.startswith("pitstop training-set: ") and "free some space" in err, err
        assert "Traceback" not in err


def test_string_key_in_csv_is_refused(trap_store: Settings, tmp_path: Path) -> None:
    frame = _entity_frame()
    frame["user_id"] = frame["user_id"].astype(object)
    frame.loc[0, "user_id"] = "u1"
    entities = _write(frame, tmp_path / "entities.csv")
    with pytest.raises(InvalidInputError, match="user_id"):
        build_training_set(
            trap_store, feature_service="churn_v1", entities=entities, out=tmp_path / "o.parquet"
        )


def test_unsupported_suffix_is_named(trap_store: Settings, tmp_path: Path) -> None:
    entities = tmp_path / "entities.json"
    entities.write_text("[]")
    with pytest.raises(InvalidInputError, match=r"'\.json'"):
        build_training_set(
            trap_store, feature_service="churn_v1", entities=entities, out=tmp_path / "o.parquet"
        )


def test_training_set_before_build_says_what_to_run(tmp_path: Path) -> None:
    entities = _write(_entity_frame(), tmp_path / "entities.parquet")
    with pytest.raises(MissingInputError, match="run `pitstop build` first"):
        build_training_set(
            Settings.from_env(tmp_path / "data"),
            feature_service="churn_v1",
            entities=entities,
            out=tmp_path / "o.parquet",
        )


def test_the_readmes_sdk_snippet_runs_from_any_folder(trap_store: Settings, tmp_path: Path) -> None:
    """It set PITSTOP_DATA_DIR, then read `data/features/...` relative to the working folder,
    so it failed anywhere but the project root."""
    import re
    import subprocess
    import sys

    from pitstop.settings import FEATURE_REPO_DIR, PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Build a training set", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert snippet is not None
    code = (
        snippet.group(1)
        .replace("/path/to/pitstop/data", str(trap_store.data_dir))
        .replace("/path/to/pitstop/feature_repo", str(FEATURE_REPO_DIR))
    )
    assert str(trap_store.data_dir) in code and str(FEATURE_REPO_DIR) in code
    code += "\nprint(len(training), len(entity_df), training['events_7d'].notna().sum())\n"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows, labels, with_values = map(int, result.stdout.split()[-3:])
    assert rows == labels > 0 and with_values > 0
