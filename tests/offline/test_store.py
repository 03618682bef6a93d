"""pitstop's ASOF offline store equals Feast's own DuckDB store, cell for cell.

Both stores run in the test on the same throwaway Feast repo and the same randomized data:
ties on event time broken by created_timestamp, null feature values, entity timestamps in
several UTC offsets, ttl expiry, entities with no history, duplicate entity rows, a view with a
composite key, two views sharing a feature name (with full_feature_names) and an on-demand
view with request data.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pitstop.settings import PROJECT_ROOT

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
USERS = 40
ITEMS = 6
PLUGIN = "pitstop.offline.store.PitstopOfflineStore"


def _snapshots(rng: np.random.Generator, keys: list[tuple[int, ...]], rows: int) -> pd.DataFrame:
    """Feature rows at random times over 30 days, a quarter of them tied with another row's
    event time (the created_timestamp decides), never tied on both."""
    picks = rng.integers(0, len(keys), rows)
    seconds = rng.integers(0, 30 * 86400, rows)
    # Some on a whole hour, as some entity rows are: exactly at a row's time, or its ttl's end.
    seconds = np.where(rng.random(rows) < 0.3, seconds - seconds % 3600, seconds)
    # Ties: copy the key and event time of an earlier row.
    tied = rng.random(rows) < 0.25
    for position in np.flatnonzero(tied):
        if position > 0:
            other = int(rng.integers(0, position))
            picks[position] = picks[other]
            seconds[position] = seconds[other]
    frame = pd.DataFrame(
        {
            "event_timestamp": [START + timedelta(seconds=int(s)) for s in seconds],
            "created_timestamp": [
                START + timedelta(seconds=int(s) + int(c))
                for s, c in zip(seconds, rng.permutation(rows) * 7 + 1, strict=True)
            ],
        }
    )
    key_names = ["user_id", "item_id"][: len(keys[0])]
    for number, name in enumerate(key_names):
        frame[name] = [keys[p][number] for p in picks]
    # Some rows without a created_timestamp (they lose a tie), at most one per tie.
    unknown = pd.Series(rng.random(rows) < 0.08)
    first_unknown = ~frame[unknown][[*key_names, "event_timestamp"]].duplicated()
    frame.loc[first_unknown[first_unknown].index, "created_timestamp"] = pd.NaT
    return frame


def _with_nulls(rng: np.random.Generator, values: np.ndarray, share: float) -> pd.Series:
    series = pd.Series(values)
    return series.mask(rng.random(len(series)) < share)


def _write_tables(folder: Path, seed: int) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    users = [(u,) for u in range(1, USERS + 1)]
    activity = _snapshots(rng, users, 1500)
    activity["clicks"] = _with_nulls(rng, rng.integers(0, 50, len(activity)), 0.1).astype("Int64")
    activity["amount"] = _with_nulls(rng, rng.normal(10, 5, len(activity)), 0.1)
    profile = _snapshots(rng, users, 800)
    profile["amount"] = _with_nulls(rng, rng.normal(100, 20, len(profile)), 0.1)
    profile["last_seen"] = profile["event_timestamp"] - pd.to_timedelta(
        rng.integers(0, 86400, len(profile)), unit="s"
    )
    pairs = [(u, i) for u in range(1, USERS + 1) for i in range(1, ITEMS + 1)]
    pair = _snapshots(rng, pairs, 1500)
    pair["score"] = _with_nulls(rng, rng.random(len(pair)), 0.1)
    paths = {}
    for name, frame in {"activity": activity, "profile": profile, "pair": pair}.items():
        paths[name] = folder / f"{name}.parquet"
        # Microsecond timestamps, as dbt writes them (Feast's DuckDB store returns a
        # nanosecond timestamp feature as a string).
        for column in frame.select_dtypes("datetimetz"):
            frame[column] = frame[column].dt.as_unit("us")
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, paths[name])
    return paths


def _ttl_edges(paths: dict[str, Path]) -> pd.DataFrame:
    """Entity rows exactly at the end of the ttl of a user's latest row, and just after."""
    latest = pd.read_parquet(paths["activity"]).groupby("user_id")["event_timestamp"].max().head(15)
    at_edge = latest + timedelta(days=3)
    stamps = pd.concat([at_edge, at_edge + timedelta(microseconds=1), latest])
    return pd.DataFrame(
        {
            "user_id": stamps.index.to_numpy(),
            "item_id": 1,
            "event_timestamp": pd.Series(list(stamps), dtype=object),
            "request_x": 0.5,
            "label": 0,
        }
    )


def _entity_frame(seed: int, paths: dict[str, Path], rows: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1)
    # Users past USERS and rows before START have no history.
    seconds = rng.integers(-2 * 86400, 34 * 86400, rows)
    # Some entity rows fall exactly on a feature row's second (on a whole hour).
    seconds = np.where(rng.random(rows) < 0.2, seconds - seconds % 3600, seconds)
    offsets = [
        timezone.utc,
        timezone(timedelta(hours=5, minutes=30)),
        timezone(-timedelta(hours=7)),
    ]
    stamps = [
        (START + timedelta(seconds=int(s))).astimezone(offsets[n % len(offsets)])
        for n, s in enumerate(seconds)
    ]
    frame = pd.DataFrame(
        {
            "user_id": rng.integers(1, USERS + 6, rows),
            "item_id": rng.integers(1, ITEMS + 2, rows),
            # Mixed offsets: an object column of aware datetimes, as Feast accepts it.
            "event_timestamp": pd.Series(stamps, dtype=object),
            "request_x": rng.normal(0, 1, rows),
            "label": rng.integers(0, 2, rows),
        }
    )
    # Duplicate entity rows.
    frame = pd.concat([frame, frame.iloc[:40], _ttl_edges(paths)], ignore_index=True)
    frame["rid"] = range(len(frame))
    return frame


def _repo_objects(paths: dict[str, Path]) -> list[Any]:
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, RequestSource
    from feast.on_demand_feature_view import on_demand_feature_view
    from feast.types import Float64, Int64, UnixTimestamp
    from feast.value_type import ValueType

    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.INT64)

    def source(name: str) -> FileSource:
        return FileSource(
            name=f"{name}_source",
            path=str(paths[name]),
            timestamp_field="event_timestamp",
            created_timestamp_column="created_timestamp",
        )

    activity = FeatureView(
        name="activity",
        entities=[user],
        ttl=timedelta(days=3),
        schema=[Field(name="clicks", dtype=Int64), Field(name="amount", dtype=Float64)],
        source=source("activity"),
    )
    profile = FeatureView(
        name="profile",
        entities=[user],
        ttl=None,
        schema=[Field(name="amount", dtype=Float64), Field(name="last_seen", dtype=UnixTimestamp)],
        source=source("profile"),
    )
    pair = FeatureView(
        name="pair",
        entities=[user, item],
        ttl=timedelta(days=5),
        schema=[Field(name="score", dtype=Float64)],
        source=source("pair"),
    )
    request = RequestSource(name="request", schema=[Field(name="request_x", dtype=Float64)])

    @on_demand_feature_view(
        sources=[pair, request], schema=[Field(name="score_plus_x", dtype=Float64)]
    )
    def pair_plus(inputs: pd.DataFrame) -> pd.DataFrame:
        outputs = pd.DataFrame(index=inputs.index)
        outputs["score_plus_x"] = inputs["score"] + inputs["request_x"]
        return outputs

    @on_demand_feature_view(
        sources=[profile, request],
        schema=[
            Field(name="amount_times_x", dtype=Float64),
            Field(name="seen_before_2026", dtype=Int64),
        ],
        mode="python",
    )
    def profile_x(inputs: dict[str, Any]) -> dict[str, Any]:
        # Python mode, as pitstop's user_recency: plain lists in, plain lists out.
        rows = list(zip(inputs["amount"], inputs["request_x"], inputs["last_seen"], strict=True))
        return {
            "amount_times_x": [None if a is None else a * x for a, x, _ in rows],
            "seen_before_2026": [
                None if seen is None else int(seen.year < 2026) for _, _, seen in rows
            ],
        }

    service = FeatureService(name="everything", features=[activity, profile, pair, pair_plus])
    return [user, item, activity, profile, pair, pair_plus, profile_x, service]


def _store(folder: Path, offline_type: str, objects: list[Any], **options: Any) -> Any:
    from feast import FeatureStore, RepoConfig

    folder.mkdir(parents=True, exist_ok=True)
    config = RepoConfig(
        project="equivalence",
        provider="local",
        registry=str(folder / "registry.db"),
        online_store={"type": "sqlite", "path": str(folder / "online.db")},
        offline_store={"type": offline_type, **options},
        entity_key_serialization_version=3,
        repo_path=folder,
    )
    store = FeatureStore(config=config)
    store.apply(objects)
    return store


@pytest.fixture(scope="module", params=[7, 2026])
def stores(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp(f"offline{request.param}")
    paths = _write_tables(folder, request.param)
    objects = _repo_objects(paths)
    feast_store = _store(folder / "feast", "duckdb", objects)
    pitstop_store = _store(folder / "pitstop", PLUGIN, objects)
    return feast_store, pitstop_store, _entity_frame(request.param, paths)


def _retrieve(store: Any, entities: pd.DataFrame, features: Any, full: bool) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        job = store.get_historical_features(
            entity_df=entities.copy(), features=features, full_feature_names=full
        )
        return job.to_df()


def _assert_equal_cells(expected: pd.DataFrame, actual: pd.DataFrame) -> None:
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected)
    expected = expected.sort_values("rid").reset_index(drop=True)
    actual = actual.sort_values("rid").reset_index(drop=True)
    for name in expected.columns:
        left, right = expected[name], actual[name]
        if pd.api.types.is_datetime64_any_dtype(left.dtype):
            left = pd.to_datetime(left, utc=True).dt.as_unit("us")
            right = pd.to_datetime(right, utc=True).dt.as_unit("us")
            assert left.isna().equals(right.isna()), name
            assert (left[left.notna()] == right[right.notna()]).all(), name
        elif pd.api.types.is_numeric_dtype(left.dtype):
            left = left.astype("float64")
            right = right.astype("float64")
            assert left.isna().equals(right.isna()), name
            np.testing.assert_array_equal(left[left.notna()], right[right.notna()], err_msg=name)
        else:
            assert left.tolist() == right.tolist(), name


def test_plugin_equals_feast_duckdb_store(stores: Any) -> None:
    feast_store, pitstop_store, entities = stores
    features = [
        "activity:clicks",
        "activity:amount",
        "profile:amount",
        "profile:last_seen",
        "pair:score",
        "pair_plus:score_plus_x",
    ]
    expected = _retrieve(feast_store, entities, features, full=True)
    actual = _retrieve(pitstop_store, entities, features, full=True)
    _assert_equal_cells(expected, actual)
    # The data exercises what it claims to: some rows found, some expired, some never seen.
    assert expected["activity__clicks"].notna().any()
    assert expected["activity__clicks"].isna().sum() > expected["profile__amount"].isna().sum()
    assert expected["pair__score"].notna().any()


def test_plugin_equals_feast_when_it_reads_only_the_frames_entities(
    stores: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The semi join that skips other entities' rows (used for small entity frames)."""
    from pitstop.offline import store as offline_store

    monkeypatch.setattr(offline_store, "_PRUNE_BELOW", 1e9)
    feast_store, pitstop_store, entities = stores
    features = ["activity:clicks", "profile:amount", "pair:score", "pair_plus:score_plus_x"]
    expected = _retrieve(feast_store, entities, features, full=True)
    actual = _retrieve(pitstop_store, entities, features, full=True)
    _assert_equal_cells(expected, actual)


def test_plugin_equals_feast_with_a_feature_service(stores: Any) -> None:
    feast_store, pitstop_store, entities = stores
    service = feast_store.get_feature_service("everything")
    expected = _retrieve(feast_store, entities, service, full=True)
    actual = _retrieve(
        pitstop_store, entities, pitstop_store.get_feature_service("everything"), True
    )
    _assert_equal_cells(expected, actual)


def test_plugin_equals_feast_with_short_names(stores: Any) -> None:
    feast_store, pitstop_store, entities = stores
    features = ["activity:clicks", "profile:amount", "profile:last_seen", "pair:score"]
    expected = _retrieve(feast_store, entities, features, full=False)
    actual = _retrieve(pitstop_store, entities, features, full=False)
    _assert_equal_cells(expected, actual)


@pytest.mark.parametrize("full", [True, False], ids=["full-names", "short-names"])
def test_plugin_equals_feast_with_on_demand_views_of_both_modes(stores: Any, full: bool) -> None:
    """Column order, names and types of the on-demand outputs are Feast's, python mode too."""
    feast_store, pitstop_store, entities = stores
    features = [
        "activity:clicks",
        "profile_x:amount_times_x",
        "pair:score",
        "pair_plus:score_plus_x",
        "profile_x:seen_before_2026",
    ]
    if full:
        features.insert(1, "profile:amount")  # the ODFV's source under its long name too
    expected = _retrieve(feast_store, entities, features, full=full)
    actual = _retrieve(pitstop_store, entities, features, full=full)
    _assert_equal_cells(expected, actual)
    expected = expected.sort_values("rid").reset_index(drop=True)
    actual = actual.sort_values("rid").reset_index(drop=True)
    prefix = "profile_x__" if full else ""
    for name in (f"{prefix}amount_times_x", f"{prefix}seen_before_2026"):
        assert actual[name].dtype == expected[name].dtype, name
        pd.testing.assert_series_equal(actual[name], expected[name])
    assert expected[f"{prefix}amount_times_x"].notna().any()


def test_on_demand_views_get_only_the_columns_they_read(
    stores: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pitstop.offline import store as offline_store

    _, pitstop_store, entities = stores
    seen: dict[str, list[str]] = {}
    original = offline_store._transform

    def spy(view: Any, table: pa.Table, full_feature_names: bool) -> pa.Table:
        seen[view.name] = list(table.column_names)
        return original(view, table, full_feature_names)

    monkeypatch.setattr(offline_store, "_transform", spy)
    service = pitstop_store.get_feature_service("everything")
    features = ["profile_x:amount_times_x", "profile_x:seen_before_2026"]
    _retrieve(pitstop_store, entities, service, full=True)
    _retrieve(pitstop_store, entities, features, full=True)
    keys = {"user_id", "item_id"}
    # Only the source views' features (either name), the request fields and the join keys.
    assert set(seen["pair_plus"]) <= keys | {"pair__score", "score", "request_x"}
    assert "pair__score" in seen["pair_plus"] and "request_x" in seen["pair_plus"]
    profile = {"profile__amount", "amount", "profile__last_seen", "last_seen"}
    assert set(seen["profile_x"]) <= keys | profile | {"request_x"}
    assert "rid" not in seen["profile_x"] and "activity__clicks" not in seen["pair_plus"]


@pytest.mark.parametrize(
    ("column", "full"),
    [("clicks", False), ("activity__clicks", True), ("score_plus_x", False)],
    ids=["short-name", "full-name", "on-demand"],
)
def test_an_entity_column_named_like_a_feature_is_refused_as_feast_refuses_it(
    stores: Any, column: str, full: bool
) -> None:
    """Feast's DuckDB store refuses such a frame for a batch view's feature (a ValueError);
    the plugin did not, and gave two columns of that name. For an on-demand feature Feast
    itself gives two columns; the plugin refuses that too."""
    feast_store, pitstop_store, entities = stores
    entities = entities.assign(**{column: 1})
    features = ["activity:clicks", "pair_plus:score_plus_x"]
    if column == "score_plus_x":
        doubled = _retrieve(feast_store, entities, features, full=full)
        assert doubled.columns.tolist().count(column) == 2
    else:
        with pytest.raises(ValueError, match=column):
            _retrieve(feast_store, entities, features, full=full)
    with pytest.raises(ValueError, match=f"named like requested features: {column};"):
        _retrieve(pitstop_store, entities, features, full=full)
    # A column named like a feature that is not requested passes through, in both.
    kept = _retrieve(pitstop_store, entities, ["profile:amount"], full=full)
    assert kept.columns.tolist().count(column) == 1


def test_plugin_keeps_entity_order(stores: Any) -> None:
    _, pitstop_store, entities = stores
    shuffled = entities.sample(frac=1, random_state=3)
    result = _retrieve(pitstop_store, shuffled, ["activity:clicks"], full=False)
    assert result["rid"].tolist() == shuffled["rid"].tolist()


def test_plugin_takes_arrow_parquet_and_sql_entities(stores: Any, tmp_path: Path) -> None:
    _, pitstop_store, entities = stores
    entities = entities.drop(columns=["request_x"]).assign(
        event_timestamp=pd.to_datetime(entities["event_timestamp"], utc=True)
    )
    features = ["activity:clicks", "pair:score"]
    expected = _retrieve(pitstop_store, entities, features, full=False)
    table = pa.Table.from_pandas(entities, preserve_index=False)
    path = tmp_path / "entities.parquet"
    pq.write_table(table, path)
    for given in (table, str(path), f"select * from read_parquet('{path}')"):
        job = pitstop_store.get_historical_features(entity_df=given, features=features)
        _assert_equal_cells(expected, job.to_df())


def test_naive_entity_timestamps_are_utc(stores: Any) -> None:
    _, pitstop_store, entities = stores
    aware = entities.drop(columns=["request_x"]).assign(
        event_timestamp=pd.to_datetime(entities["event_timestamp"], utc=True)
    )
    naive = aware.assign(event_timestamp=aware["event_timestamp"].dt.tz_localize(None))
    features = ["activity:clicks", "pair:score"]
    table = pa.Table.from_pandas(naive, preserve_index=False)
    from_naive = pitstop_store.get_historical_features(entity_df=table, features=features).to_df()
    _assert_equal_cells(_retrieve(pitstop_store, aware, features, full=False), from_naive)


def test_feature_repo_uses_the_plugin() -> None:
    """The training-set, pipeline and API tests run on feature_repo/, so they run the plugin."""
    import yaml

    config = yaml.safe_load((PROJECT_ROOT / "feature_repo" / "feature_store.yaml").read_text())
    assert config["offline_store"]["type"] == PLUGIN


def test_filter_by_created_timestamp_is_feasts(stores: Any) -> None:
    """Not an ASOF join: the plugin hands it to Feast's DuckDB store, same answer."""
    feast_store, pitstop_store, entities = stores
    features = ["activity:clicks", "pair:score"]
    results = []
    for store in (feast_store, pitstop_store):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            job = store.get_historical_features(
                entity_df=entities.drop(columns=["request_x"]),
                features=features,
                filter_by_created_timestamp=True,
            )
            results.append(job.to_df())
    _assert_equal_cells(results[0], results[1])


def test_unique_event_timestamps_option_on_data_without_ties(tmp_path: Path) -> None:
    """pitstop's own tables have one row per key and event time (dbt tests it), so its repo
    skips the tie-break; on such data the answer is still Feast's."""
    paths = _write_tables(tmp_path, 11)
    for path in paths.values():
        frame = pd.read_parquet(path)
        keys = [k for k in ("user_id", "item_id") if k in frame.columns]
        frame = frame.drop_duplicates([*keys, "event_timestamp"])
        frame.to_parquet(path, index=False)
    objects = _repo_objects(paths)
    feast_store = _store(tmp_path / "feast", "duckdb", objects)
    pitstop_store = _store(tmp_path / "pitstop", PLUGIN, objects, unique_event_timestamps=True)
    entities = _entity_frame(11, paths)
    features = ["activity:clicks", "profile:amount", "pair:score", "pair_plus:score_plus_x"]
    expected = _retrieve(feast_store, entities, features, full=True)
    _assert_equal_cells(expected, _retrieve(pitstop_store, entities, features, full=True))
    job = pitstop_store.get_historical_features(entity_df=entities, features=features)
    assert "__order" not in job.to_sql()


def test_python_columns_are_to_pydict_value_for_value() -> None:
    """The python-mode input conversion gives what pyarrow's to_pydict gives: the same
    datetimes (zone, wall time, type), None for nulls, for every unit and zone kind."""
    from pitstop.offline.store import python_columns

    rng = np.random.default_rng(5)
    micros = rng.integers(-2 * 10**15, 4 * 10**15, 3000)
    mask = rng.random(3000) < 0.2
    columns: dict[str, pa.Array] = {"int": pa.array(micros, mask=mask), "float": micros / 3.0}
    for unit, per in (("s", 10**6), ("ms", 1000), ("us", 1), ("ns", 1)):
        for zone in (None, "UTC", "+05:30", "Europe/Berlin", "America/New_York"):
            columns[f"{unit}-{zone}"] = pa.array(micros // per, mask=mask).cast(
                pa.timestamp(unit, tz=zone)
            )
    table = pa.table(columns)
    # A column again under another name, as the view's preprocessing adds it.
    table = table.append_column("again", table.column("us-UTC"))
    expected, actual = table.to_pydict(), python_columns(table)
    assert actual["again"] is not actual["us-UTC"]
    assert list(actual) == list(expected)
    for name, values in expected.items():
        assert [repr(value) for value in actual[name]] == [repr(value) for value in values], name


def test_the_feast_calls_of_the_python_mode_step_exist() -> None:
    """pitstop.offline.store._transform calls these of Feast's OnDemandFeatureView and
    PythonTransformation (Feast 0.67); without them it falls back to transform_arrow, slower."""
    from feast.on_demand_feature_view import OnDemandFeatureView
    from feast.transformation.python_transformation import PythonTransformation

    assert callable(OnDemandFeatureView._preprocess_arrow_table)
    assert callable(OnDemandFeatureView._postprocess_arrow_table)
    source = PythonTransformation.transform_arrow.__code__.co_names
    assert "udf" in source and "to_pydict" in source and "from_pydict" in source
