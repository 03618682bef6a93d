"""Materialization into the online store: pitstop's materializer against `feast materialize`.

    python bench/materialize.py --users 100000 --repeats 3 --stores sqlite,redis

Writes synthetic feature tables with the dbt marts' schemas (--rows-per-entity rows per user
and per item, --users users, --users/10 items) into a temporary data folder, applies the
feature repo, then materializes every online view into an empty store, with each method and
store, --repeats times. Every measurement runs in a fresh Python process so each peak memory
(the child's max RSS, imports included) is its own; the time is that of the materialize call
(registry read included, Python and Feast imports not). Prints medians and pitstop/Feast ratios.
Redis: a dedicated database (--redis-url, default db 13), flushed before each measurement.
Feast is plain Feast (bench/plain_feast.py): its own SQLite store and layout, not pitstop's
plugin; pitstop writes its own layout (one row per entity and view).

The whole processes, as users run them, beside the inner calls (the default --methods):
``pitstop_cli`` is ``pitstop materialize --full`` and ``feast_cli`` is ``feast materialize``
over the same registry and tables, each timed from process start to exit (imports included),
with the child's peak memory.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[1] / "service"
sys.path.insert(0, str(SERVICE.parent / "bench"))

import plain_feast  # noqa: E402 - bench/plain_feast.py: the baseline's config

METHODS = ("pitstop", "feast", "pitstop_cli", "feast_cli")
CLI = {"pitstop_cli": "pitstop", "feast_cli": "feast"}  # whole process -> its inner call
# pitstop_again (with --methods pitstop,pitstop_again,...): right after pitstop's run, the next
# run on unchanged tables (it finds 0 changed entities: the incremental daily cost floor).
# sqlite_floor (SQLite only): the rows pitstop wrote, copied into empty tables of pitstop's
# layout by INSERT ... SELECT, all in SQLite's C: the fastest any materializer could write it.

_CHILD = textwrap.dedent(
    """
    import contextlib, dataclasses, io, json, sys, time
    from pitstop.feast_adapter import repo
    from pitstop.materialize import materialize
    from pitstop.online.sqlite_store import open_write_connection
    from pitstop.settings import Settings
    import feast  # imported before the clock starts, for both methods
    import plain_feast  # bench/plain_feast.py: Feast's own stores
    method, folder, store, url, batch = sys.argv[1:6]
    settings = dataclasses.replace(
        Settings.from_env(folder), online_store=store, redis_url=url
    )

    def copy_in_sqlite(written):
        # The rows pitstop wrote, copied into empty tables of the same schema by one
        # INSERT ... SELECT per table in key order (its first column): SQLite's own speed,
        # no Python per row.
        floor = written.with_name("floor.db")
        for suffix in ("", "-wal", "-shm"):
            floor.with_name(floor.name + suffix).unlink(missing_ok=True)
        connection = open_write_connection(floor)  # the materializer's pragmas
        connection.execute("attach ? as written", [str(written)])
        schema = connection.execute(
            "select name, sql from written.sqlite_master where sql is not null "
            "order by type = 'index'"
        ).fetchall()
        for _, sql in schema:
            connection.execute(sql)
        tables = [name for name, sql in schema if sql.lower().startswith("create table")]
        for name in tables:
            connection.execute("begin immediate")
            connection.execute(
                f'insert into main."{name}" select * from written."{name}" order by 1'
            )
            connection.execute("commit")
        connection.close()

    if method == "sqlite_floor":
        report = materialize(settings, full=True, batch_rows=int(batch))  # the rows to copy
    started = time.perf_counter()
    if method == "feast":
        with contextlib.redirect_stdout(io.StringIO()):
            plain_feast.materialize(settings)  # Feast's own store, Feast's code
        report = None
    elif method == "sqlite_floor":
        copy_in_sqlite(settings.online_store_path)
    else:
        full = method == "pitstop"  # pitstop_again: the next run with nothing changed
        report = materialize(settings, full=full, batch_rows=int(batch))
    seconds = time.perf_counter() - started
    print(json.dumps({
        "seconds": seconds,
        "write_seconds": report.write_seconds if report else 0.0,
        "entities": report.entities if report else {},
        "peak_mb": repo.peak_memory_bytes() / 2**20,
    }))
    """
)


def write_tables(features: Path, users: int, items: int, rows_per_entity: int) -> None:
    """Synthetic feature tables (the marts' schemas), ``rows_per_entity`` days per entity."""
    import numpy as np
    import pyarrow as pa

    from pitstop.feature_tables import write_table

    features.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    ts_type = pa.timestamp("us", tz="UTC")

    def frame(count: int, key: str) -> dict[str, pa.Array]:
        ids = np.tile(np.arange(1, count + 1, dtype=np.int64), rows_per_entity)
        day = np.repeat(np.arange(rows_per_entity, 0, -1), count)
        micros = int(today.timestamp() * 1e6) - day * 86_400 * 1_000_000
        stamp = pa.array(micros, pa.int64()).cast(ts_type)
        return {key: pa.array(ids), "event_timestamp": stamp, "created_timestamp": stamp}

    def ints(n: int, high: int) -> pa.Array:
        return pa.array(rng.integers(0, high, n), pa.int64())

    def floats(n: int, scale: float, nulls: float = 0.0) -> pa.Array:
        return pa.array(rng.random(n) * scale, mask=rng.random(n) < nulls if nulls else None)

    user = frame(users, "user_id")
    n = len(user["user_id"])
    activity = dict(user)
    for name in [
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
    ]:
        activity[name] = ints(n, 300)
    activity |= {
        "revenue_7d": floats(n, 500),
        "revenue_30d": floats(n, 2000),
        "avg_order_value_30d": floats(n, 80, 0.3),
    }
    seen = user["event_timestamp"]
    profile = dict(user) | {
        "first_seen_at": seen,
        "last_event_at": seen,
        "last_purchase_at": pa.array(
            seen.cast(pa.int64()).to_numpy(), mask=rng.random(n) < 0.4
        ).cast(ts_type),
        "lifetime_purchases": ints(n, 50),
        "lifetime_revenue": floats(n, 5000),
    }
    item = frame(items, "item_id")
    m = len(item["item_id"])
    popularity = dict(item) | {
        "item_views_7d": ints(m, 5000),
        "item_add_to_carts_7d": ints(m, 500),
        "item_purchases_7d": ints(m, 100),
        "item_revenue_7d": floats(m, 5000),
        "item_conversion_rate_7d": floats(m, 1, 0.2),
    }
    for name, columns in (
        ("user_activity", activity),
        ("user_profile", profile),
        ("item_popularity", popularity),
    ):
        write_table(features / name, pa.table(columns))  # pitstop's layout (feature_tables)


def _reset(folder: Path, store: str, url: str) -> None:
    """An empty online store and no materializer state."""
    for name in ("online_store.db", "feast/plain_online_store.db"):
        for suffix in ("", "-wal", "-shm"):
            (folder / f"{name}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(folder / "online_state", ignore_errors=True)
    if store == "redis":
        import redis

        redis.Redis.from_url(url).flushdb()


def _command(method: str, folder: Path, store: str, url: str) -> tuple[list[str], dict[str, str]]:
    """The command line a user runs for ``method`` (pitstop_cli, feast_cli), and its env."""
    sys.path.insert(0, str(SERVICE))
    from pitstop.settings import Settings

    settings = Settings.from_env(folder)
    env = {
        **os.environ,
        "PYTHONPATH": str(SERVICE),
        "PITSTOP_ONLINE_STORE": store,
        "PITSTOP_REDIS_URL": url,
    }
    if method == "pitstop_cli":
        return [
            sys.executable,
            "-m",
            "pitstop.cli",
            "materialize",
            "--full",
            "--data-dir",
            str(folder),
        ], env
    settings = dataclasses.replace(settings, online_store=store, redis_url=url)
    env.update(plain_feast.environment(settings))
    end = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    feast = "import sys; from feast.cli.cli import cli; sys.exit(cli())"
    repo = SERVICE.parent / "feature_repo"
    return [
        sys.executable,
        "-c",
        feast,
        "-c",
        str(repo),
        "materialize",
        "1970-01-01T00:00:00",
        end,
    ], env


def _empty_tables(folder: Path, store: str, url: str) -> None:
    """The online views' empty tables in Feast's own SQLite store, as `feast apply` with plain
    Feast leaves them (made before the clock starts)."""
    from pitstop.feast_adapter import repo
    from pitstop.settings import Settings

    settings = dataclasses.replace(Settings.from_env(folder), online_store=store, redis_url=url)
    repo.ensure_online_tables(plain_feast.store(settings))


def _measure_process(method: str, folder: Path, store: str, url: str) -> dict[str, object]:
    """Wall clock and peak memory of the whole command, from process start to exit."""
    _reset(folder, store, url)
    command, env = _command(method, folder, store, url)
    if method == "feast_cli" and store == "sqlite":
        _empty_tables(folder, store, url)  # `feast materialize` writes into tables apply made
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak memory
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode(errors="replace")
    if child.returncode != 0:
        raise SystemExit(f"{method} on {store} failed:\n{text[-3000:]}")
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024}


def _measure(method: str, folder: Path, store: str, url: str, batch: int) -> dict[str, object]:
    if method in CLI:
        return _measure_process(method, folder, store, url)
    if method != "pitstop_again":
        _reset(folder, store, url)
    env = {**os.environ, "PYTHONPATH": f"{SERVICE}{os.pathsep}{SERVICE.parent / 'bench'}"}
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, method, str(folder), store, url, str(batch)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{method} on {store} failed:\n{result.stderr[-3000:]}")
    measured: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rows-per-entity", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stores", default="sqlite,redis")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="pitstop-bench-materialize-"))
    items = max(args.users // 10, 1)
    print(
        f"data: {args.users:,} users, {items:,} items, {args.rows_per_entity} rows each -> {folder}"
    )
    write_tables(folder / "features", args.users, items, args.rows_per_entity)
    env = {**os.environ, "PYTHONPATH": str(SERVICE)}
    subprocess.run(
        [sys.executable, "-m", "pitstop.cli", "apply", "--data-dir", str(folder), "--quiet"],
        env=env,
        check=True,
        capture_output=True,
    )
    entities = 2 * args.users + items
    results: dict[tuple[str, str], list[dict[str, object]]] = {}
    try:
        for repeat in range(args.repeats):
            for store in args.stores.split(","):
                for method in args.methods.split(","):
                    if method == "sqlite_floor" and store != "sqlite":
                        continue
                    measured = _measure(method, folder, store, args.redis_url, args.batch_rows)
                    results.setdefault((method, store), []).append(measured)
                    print(
                        f"  run {repeat + 1}: {method:<13} {store:<6} "
                        f"{measured['seconds']:8.2f} s  {measured['peak_mb']:7.0f} MiB",
                        flush=True,
                    )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    print(
        f"\nmedians of {args.repeats} runs, {entities:,} entities "
        f"(user_activity + user_profile: {args.users:,} users each; item_popularity: {items:,})"
    )
    print(f"{'method':<13} {'store':<6} {'seconds':>9} {'entities/s':>11} {'peak MiB':>9}")
    medians: dict[tuple[str, str], tuple[float, float]] = {}
    for (method, store), runs in results.items():
        seconds = statistics.median(float(run["seconds"]) for run in runs)  # type: ignore[arg-type]
        peak = statistics.median(float(run["peak_mb"]) for run in runs)  # type: ignore[arg-type]
        medians[(method, store)] = (seconds, peak)
        rate = 0 if method == "pitstop_again" else entities / seconds
        print(f"{method:<13} {store:<6} {seconds:9.2f} {rate:11,.0f} {peak:9.0f}")
    if ("pitstop", "sqlite") in medians and ("sqlite_floor", "sqlite") in medians:
        ours, floor = medians[("pitstop", "sqlite")], medians[("sqlite_floor", "sqlite")]
        print(f"sqlite: pitstop writes at {floor[0] / ours[0]:.0%} of SQLite's own copy rate")
    for store in args.stores.split(","):
        for ours_name, feast_name, what in (
            ("pitstop", "feast", "inner call"),
            ("pitstop_cli", "feast_cli", "whole process"),
        ):
            if (ours_name, store) in medians and (feast_name, store) in medians:
                ours, feast = medians[(ours_name, store)], medians[(feast_name, store)]
                print(
                    f"{store} ({what}): pitstop is {feast[0] / ours[0]:.2f}x faster than feast "
                    f"materialize, peak memory {ours[1] / feast[1]:.2f}x Feast's"
                )


if __name__ == "__main__":
    main()
