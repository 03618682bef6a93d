"""Training-set retrieval, three ways on the same files: pitstop's offline store, Feast's DuckDB
store and a hand-written DuckDB ASOF query.

    python bench/offline.py --users 100000 --entity-rows 100000,1000000 --repeats 3

Generates a feature table (one row per user per day over --days days, ~6M rows for 100k users
and 60 days, Parquet, in a temporary folder) and one entity frame per size (random users, 5%
never seen, random times over the table's span plus two weeks). Every measurement runs in a
fresh Python process, so each peak memory (the child's max RSS, imports included) is its own;
the wall time covers reading the entity Parquet into pandas, the retrieval and the result as a
pandas frame, not the imports (reported apart). Prints the medians and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

FEATURES_INT = ["events_1d", "events_7d", "events_30d", "sessions_7d", "purchases_7d"]
FEATURES_FLOAT = ["revenue_7d", "revenue_30d", "avg_order_value_30d"]
TTL_DAYS = 9
START = "2026-01-01"
# pitstop_unique: pitstop's store with unique_event_timestamps (as feature_repo/ sets it).
METHODS = ("pitstop", "pitstop_unique", "feast_duckdb", "hand_asof")
# pitstop_parquet: pitstop_unique given the entity Parquet path, its result streamed to a
# Parquet file in Arrow batches (RetrievalJob.to_parquet), never whole in memory; for large
# sizes (--methods pitstop_parquet --entity-rows 10000000).
EXTRA_METHODS = ("pitstop_parquet",)

# The child: one measurement, printed as JSON on its last line.
_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time, warnings
    started = time.perf_counter()
    method, folder, entities_path = sys.argv[1], sys.argv[2], sys.argv[3]
    import duckdb
    import pandas as pd
    if method != "hand_asof":
        from feast import FeatureStore, RepoConfig
    imported = time.perf_counter() - started
    warnings.filterwarnings("ignore")

    def store(offline_type, **options):
        config = RepoConfig(
            project="bench", provider="local", registry=f"{folder}/registry.db",
            online_store={"type": "sqlite", "path": f"{folder}/online.db"},
            offline_store={"type": offline_type, **options}, entity_key_serialization_version=3,
            repo_path=folder,
        )
        return FeatureStore(config=config)

    features = FEATURES
    if method == "pitstop":
        feature_store = store("pitstop.offline.store.PitstopOfflineStore")
    elif method in ("pitstop_unique", "pitstop_parquet"):
        feature_store = store(
            "pitstop.offline.store.PitstopOfflineStore", unique_event_timestamps=True
        )
    elif method == "feast_duckdb":
        feature_store = store("duckdb")
    begun = time.perf_counter()
    if method == "pitstop_parquet":
        refs = [f"user_activity:{name}" for name in features]
        job = feature_store.get_historical_features(entity_df=entities_path, features=refs)
        out = f"{folder}/out.parquet"
        written = job.to_parquet(out)
        seconds = time.perf_counter() - begun
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        total, found = duckdb.sql(
            f"SELECT count(*), count({features[0]}) FROM read_parquet('{out}')"
        ).fetchall()[0]
        assert total == written == duckdb.sql(
            f"SELECT count(*) FROM read_parquet('{entities_path}')").fetchall()[0][0]
        print(json.dumps({"seconds": seconds, "import_seconds": imported, "peak_mb": peak_mb,
                          "found": int(found)}))
        sys.exit(0)
    entities = pd.read_parquet(entities_path)
    if method == "hand_asof":
        connection = duckdb.connect()
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("entities", entities)
        selects = ", ".join(
            f"CASE WHEN f.event_timestamp >= e.event_timestamp - INTERVAL {TTL} DAYS "
            f"THEN f.{name} END AS {name}" for name in features
        )
        result = connection.sql(
            f"SELECT e.*, {selects} FROM entities e ASOF LEFT JOIN "
            f"read_parquet('{folder}/user_activity.parquet') f "
            "ON e.user_id = f.user_id AND e.event_timestamp >= f.event_timestamp"
        ).df()
    else:
        refs = [f"user_activity:{name}" for name in features]
        result = feature_store.get_historical_features(entity_df=entities, features=refs).to_df()
    seconds = time.perf_counter() - begun
    assert len(result) == len(entities), (len(result), len(entities))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "import_seconds": imported, "peak_mb": peak_mb,
                      "found": int(result[features[0]].notna().sum())}))
    """
)


def _generate(folder: Path, users: int, days: int) -> None:
    import duckdb

    path = folder / "user_activity.parquet"
    ints = ", ".join(
        f"(hash(user_id * 31 + day + {n}) % 50)::BIGINT AS {name}"
        for n, name in enumerate(FEATURES_INT)
    )
    floats = ", ".join(
        f"(hash(user_id * 17 + day + {n}) % 10000) / 100.0 AS {name}"
        for n, name in enumerate(FEATURES_FLOAT)
    )
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute(
            f"""
            COPY (
                SELECT user_id,
                       TIMESTAMPTZ '{START}' + day * INTERVAL 1 DAY AS event_timestamp,
                       TIMESTAMPTZ '{START}' + day * INTERVAL 1 DAY + INTERVAL 3 HOURS
                           AS created_timestamp,
                       {ints}, {floats}
                FROM range(1, {users} + 1) AS u(user_id), range({days}) AS d(day)
                ORDER BY day, user_id
            ) TO '{path}' (FORMAT parquet)
            """
        )


def _entities(folder: Path, users: int, days: int, rows: int) -> Path:
    path = folder / f"entities_{rows}.parquet"
    return write_entities(path, users, f"{START} 00:00:00+00", (days + 14) * 86400, rows)


def write_entities(path: Path, users: int, start: str, span_seconds: int, rows: int) -> Path:
    """``rows`` entity rows (user_id, event_timestamp, label) at random users (5 % unknown)
    and times from ``start`` over ``span_seconds``, seeded, as Parquet at ``path``."""
    import duckdb

    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute("SELECT setseed(0.42)")
        connection.execute(
            f"""
            COPY (
                SELECT (1 + floor(random() * {users} * 1.05))::BIGINT AS user_id,
                       TIMESTAMPTZ '{start}' + to_microseconds(
                           (random() * {span_seconds} * 1000000)::BIGINT) AS event_timestamp,
                       (random() < 0.1)::INTEGER AS label
                FROM range({rows})
            ) TO '{path}' (FORMAT parquet)
            """
        )
    return path


def _apply(folder: Path) -> None:
    """The bench's Feast registry: one entity and one view over the generated table."""
    code = textwrap.dedent(
        f"""
        from datetime import timedelta
        from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig
        from feast.types import Float64, Int64
        from feast.value_type import ValueType
        folder = {str(folder)!r}
        config = RepoConfig(
            project="bench", provider="local", registry=f"{{folder}}/registry.db",
            online_store={{"type": "sqlite", "path": f"{{folder}}/online.db"}},
            offline_store={{"type": "duckdb"}}, entity_key_serialization_version=3,
            repo_path=folder,
        )
        user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
        view = FeatureView(
            name="user_activity", entities=[user], ttl=timedelta(days={TTL_DAYS}),
            schema=[Field(name=n, dtype=Int64) for n in {FEATURES_INT!r}]
            + [Field(name=n, dtype=Float64) for n in {FEATURES_FLOAT!r}],
            source=FileSource(
                path=f"{{folder}}/user_activity.parquet", timestamp_field="event_timestamp",
                created_timestamp_column="created_timestamp",
            ),
        )
        FeatureStore(config=config).apply([user, view])
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def _measure(method: str, folder: Path, entities: Path) -> dict[str, float]:
    code = _CHILD.replace("FEATURES", repr(FEATURES_INT + FEATURES_FLOAT), 1).replace(
        "{TTL}", str(TTL_DAYS)
    )
    result = subprocess.run(
        [sys.executable, "-c", code, method, str(folder), str(entities)],
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"{method} failed:\n{result.stderr[-3000:]}")
    measured: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=60, help="daily rows per user")
    parser.add_argument("--entity-rows", default="100000,1000000", help="comma-separated sizes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma-separated, of {', '.join(METHODS + EXTRA_METHODS)}",
    )
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.entity_rows.split(",")]
    methods = [m for m in args.methods.split(",") if m]

    with tempfile.TemporaryDirectory(prefix="pitstop-bench-") as name:
        folder = Path(name)
        _generate(folder, args.users, args.days)
        _apply(folder)
        size_mb = (folder / "user_activity.parquet").stat().st_size / 1e6
        print(
            f"feature table: {args.users:,} users x {args.days} days = "
            f"{args.users * args.days:,} rows ({size_mb:.0f} MB Parquet); "
            f"{os.cpu_count()} CPUs; median of {args.repeats}",
            flush=True,
        )
        rows: list[tuple[int, str, float, float, float, int]] = []
        for size in sizes:
            entities = _entities(folder, args.users, args.days, size)
            for method in methods:
                runs = [_measure(method, folder, entities) for _ in range(args.repeats)]
                found = {int(run["found"]) for run in runs}
                rows.append(
                    (
                        size,
                        method,
                        statistics.median(run["seconds"] for run in runs),
                        max(run["peak_mb"] for run in runs),
                        statistics.median(run["import_seconds"] for run in runs),
                        found.pop() if len(found) == 1 else -1,
                    )
                )
                print(f"  {size:,} {method}: {[round(r['seconds'], 2) for r in runs]}", flush=True)

    print()
    header = (
        "| entity rows | method | median s | peak MB | imports s | rows with features "
        "| vs hand ASOF | Feast DuckDB / this |"
    )
    print(header)
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for size, method, seconds, peak, imports, found in rows:
        by_method = {m: s for z, m, s, *_ in rows if z == size}
        hand = by_method.get("hand_asof")
        feast = by_method.get("feast_duckdb")
        vs_hand = f"{seconds / hand:.2f}x" if hand else "-"
        speedup = f"{feast / seconds:.2f}x" if feast else "-"
        print(
            f"| {size:,} | {method} | {seconds:.2f} | {peak:,.0f} | {imports:.1f} | {found:,} "
            f"| {vs_hand} | {speedup} |"
        )


if __name__ == "__main__":
    main()
