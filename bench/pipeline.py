"""The daily pipeline end to end, stage by stage: generate, full build, apply, materialize, then
one appended day and its incremental run.

    python bench/pipeline.py --users 100000 --days 90 --online-store sqlite,redis

Stages (each a fresh child process; wall time and the child's peak RSS, its own children such
as dbt included, read from wait4):

1. generate   ``pitstop generate`` N users x D days
2. dbt full   ``pitstop build --full-refresh``  (per-model times from dbt's run_results.json)
3. apply      ``pitstop apply``
4. materialize, per online store: ``pitstop materialize`` (whatever pitstop's materializer is)
   and, for the ratio, Feast's own ``feast materialize`` over the same registry and tables
5. append     ``pitstop generate --append-day`` (late events, redeliveries across the boundary)
6. dbt daily  ``pitstop build --date <new day>``: only the new partition, a lookback, the
   entities it touches
7. materialize again, per store, after the daily run

With ``--history 8,36`` (and ``--days 8``) the appended days go on one at a time, each built
and materialized as above, until the history reaches the largest number: a table of every
day's build and materialize times, the slowest dbt nodes and the bytes per user per day of
history on disk (raw log, warehouse, published feature tables), then the ratio of the runs at
the listed histories (issue 19's "flat" target: the later no more than 1.15x the earlier):

    python bench/pipeline.py --users 1000000 --days 8 --history 8,36 --online-store redis \
        --skip-feast

Redis uses its own database (default redis://127.0.0.1:6379/12), flushed before each
materialization; nothing else on the server is touched. The data folder is temporary unless
--data-dir is given (then it is kept; an existing raw log there is reused with --reuse-raw).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
FEAST_ENTRY = "import sys; from feast.cli.cli import cli; sys.exit(cli())"


def main() -> int:
    args = _arguments()
    folder = (
        Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="pitstop-bench-"))
    )
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, float, float, str]] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT / "service")}
    try:
        pitstop = [PYTHON, "-m", "pitstop.cli"]
        data = ["--data-dir", str(folder), "-q"]
        if not (args.reuse_raw and any((folder / "raw" / "events").glob("date=*"))):
            rows.append(
                _stage(
                    "generate",
                    "",
                    [
                        *pitstop,
                        "generate",
                        *data,
                        "--users",
                        str(args.users),
                        "--days",
                        str(args.days),
                        "--start",
                        args.start,
                        "--seed",
                        str(args.seed),
                    ],
                    env,
                )
            )
        if not args.skip_full:
            rows.append(_stage("dbt full", "", [*pitstop, "build", *data, "--full-refresh"], env))
            models_full = _model_times(folder)
        else:
            models_full = {}
        rows.append(_stage("apply", "", [*pitstop, "apply", *data], env))
        if not args.skip_full:
            rows += _materialize_all(args, folder, env, label="full")
        models_daily: dict[str, float] = {}
        days: list[Day] = []
        if args.history:
            days = _history_run(args, folder, env)
        else:
            rows += _daily(args, folder, env)
            models_daily = _model_times(folder)
    finally:
        if not args.data_dir:
            shutil.rmtree(folder, ignore_errors=True)

    if args.history:
        _print_history(args, rows, days)
        return 0
    print()
    print(
        f"pitstop pipeline, {args.users:,} users x {args.days} days (+1 appended day), "
        f"{os.cpu_count()} cores; {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC"
    )
    print(f"{'stage':<28} {'detail':<16} {'seconds':>9} {'peak MB':>9}  note")
    for stage, detail, seconds, peak, note in rows:
        print(f"{stage:<28} {detail:<16} {seconds:>9.1f} {peak:>9.0f}  {note}")
    for label, models in (("full", models_full), ("daily", models_daily)):
        if models:
            top = sorted(models.items(), key=lambda item: -item[1])[:8]
            print(f"dbt {label}, slowest nodes: " + ", ".join(f"{n} {s:.1f}s" for n, s in top))
    _ratios(rows)
    return 0


def _daily(
    args: argparse.Namespace, folder: Path, env: dict[str, str]
) -> list[tuple[str, str, float, float, str]]:
    """One arrival day: append it to the raw log, the incremental build, the materializations."""
    pitstop = [PYTHON, "-m", "pitstop.cli"]
    data = ["--data-dir", str(folder), "-q"]
    rows = [_stage("append day", "", [*pitstop, "generate", *data, "--append-day"], env)]
    new_day = max(p.name for p in (folder / "raw" / "events").glob("date=*"))[5:]
    rows.append(_stage("dbt daily", new_day, [*pitstop, "build", *data, "--date", new_day], env))
    return rows + _materialize_all(args, folder, env, label="daily")


@dataclasses.dataclass
class Day:
    """One daily run of the history mode: the history it ran on and what it cost."""

    history: int
    date: str
    build: float
    materialize: float
    models: dict[str, float]
    disk: dict[str, int]


def _history_run(args: argparse.Namespace, folder: Path, env: dict[str, str]) -> list[Day]:
    """Append and run one day at a time until the history reaches the largest of --history;
    every day is recorded (the listed ones are the comparison, the rest the curve)."""
    days = []
    known = len(list((folder / "raw" / "events").glob("date=*")))
    while known <= max(args.history):
        rows = _daily(args, folder, env)
        materialized = [r[2] for r in rows if r[0].startswith("pitstop materialize")]
        days.append(
            Day(
                known,
                rows[1][1],
                rows[1][2],
                sum(materialized),
                _model_times(folder),
                _disk(folder),
            )
        )
        known += 1
    return days


def _disk(folder: Path) -> dict[str, int]:
    """Bytes on disk of the raw log, the warehouse and the published feature tables."""

    def size(path: Path) -> int:
        if path.is_file():
            return path.stat().st_size
        files = {f.resolve() for f in path.rglob("*") if f.is_file()} if path.exists() else set()
        return sum(f.stat().st_size for f in files)

    features = folder / "features"
    return {
        "raw": size(folder / "raw"),
        "warehouse": sum(size(f) for f in folder.glob("warehouse.duckdb*")),
        "features": size(features.resolve()) if features.exists() else 0,
    }


def _print_history(
    args: argparse.Namespace, rows: list[tuple[str, str, float, float, str]], days: list[Day]
) -> None:
    print()
    print(
        f"pitstop daily runs by history, {args.users:,} users, {args.days} days first, "
        f"{os.cpu_count()} cores; {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC"
    )
    for stage, detail, seconds, peak, note in rows:
        print(f"{stage:<28} {detail:<16} {seconds:>9.1f} {peak:>9.0f}  {note}")
    print()
    print(
        f"{'history':>7} {'date':<11} {'weekday':<8} {'build s':>8} {'mat. s':>7} {'total s':>8}"
        f" {'raw B/u/d':>10} {'wh B/u/d':>9} {'feat B/u/d':>10}  slowest nodes"
    )
    for day in days:
        per = args.users * day.history
        weekday = dt.date.fromisoformat(day.date).strftime("%a")
        top = sorted(day.models.items(), key=lambda item: -item[1])[:4]
        print(
            f"{day.history:>7} {day.date:<11} {weekday:<8} {day.build:>8.1f}"
            f" {day.materialize:>7.1f}"
            f" {day.build + day.materialize:>8.1f} {day.disk['raw'] / per:>10.0f}"
            f" {day.disk['warehouse'] / per:>9.0f} {day.disk['features'] / per:>10.0f}  "
            + ", ".join(f"{n} {s:.1f}" for n, s in top)
        )
    if args.data_dir:
        record = Path(args.data_dir) / "history.json"
        record.write_text(json.dumps([dataclasses.asdict(day) for day in days], indent=1))
        print(f"every day's node times and sizes: {record}")
    by_history = {day.history: day for day in days}
    points = [by_history[h] for h in args.history if h in by_history]
    if len(points) >= 2:
        first, last = points[0], points[-1]
        ratio = (last.build + last.materialize) / (first.build + first.materialize)
        print(
            f"history {last.history} / history {first.history}, build + materialize: "
            f"{ratio:.2f}x (target <= 1.15x)"
        )
        nearby = [
            statistics.median(
                d.build + d.materialize for d in days if abs(d.history - point.history) <= 1
            )
            for point in (first, last)
        ]
        print(
            f"  medians of the day before, the day and the day after: {nearby[1] / nearby[0]:.2f}x"
        )


def _materialize_all(
    args: argparse.Namespace, folder: Path, env: dict[str, str], *, label: str
) -> list[tuple[str, str, float, float, str]]:
    """Per store: after the full build, Feast's run then pitstop's, each into an emptied store,
    so the store ends as pitstop left it; after the daily run, pitstop's incremental run on that
    store (only the changed entities), then Feast's, which has no correct incremental mode (it
    misses late rows), over everything into an emptied store."""
    rows = []
    data = ["--data-dir", str(folder), "-q"]
    pitstop = [PYTHON, "-m", "pitstop.cli", "materialize", *data]
    for store in args.online_store.split(","):
        store_env = {**env, "PITSTOP_ONLINE_STORE": store, "PITSTOP_REDIS_URL": args.redis_url}
        feast = not args.skip_feast and label in args.feast_stages.split(",")
        if label == "full":
            if feast:
                _reset_store(store, folder, args.redis_url)
                rows.append(
                    _stage("feast materialize (full)", store, _feast(folder, store_env), store_env)
                )
            _reset_store(store, folder, args.redis_url)
            rows.append(_stage("pitstop materialize (full)", store, pitstop, store_env))
        else:
            rows.append(_stage(f"pitstop materialize ({label})", store, pitstop, store_env))
            if feast:
                _reset_store(store, folder, args.redis_url)
                rows.append(
                    _stage(
                        f"feast materialize ({label})", store, _feast(folder, store_env), store_env
                    )
                )
    return rows


def _feast(folder: Path, env: dict[str, str]) -> list[str]:
    """Feast's own CLI over the registry and feature_store.yaml pitstop generated."""
    sys.path.insert(0, str(ROOT / "service"))
    from pitstop.feast_adapter.config import feast_environment
    from pitstop.settings import Settings

    settings = dataclasses.replace(
        Settings.from_env(folder),
        online_store=env["PITSTOP_ONLINE_STORE"],
        redis_url=env["PITSTOP_REDIS_URL"],
    )
    env.update(feast_environment(settings))
    end = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return [
        PYTHON,
        "-c",
        FEAST_ENTRY,
        "-c",
        str(ROOT / "feature_repo"),
        "materialize",
        "1970-01-01T00:00:00",
        end,
    ]


def _reset_store(store: str, folder: Path, redis_url: str) -> None:
    """Start each materialization from an empty store (only the bench's Redis database)."""
    if store == "redis":
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    elif (folder / "online_store.db").exists():
        # empty the tables, keep them: Feast does not recreate a deleted file's tables
        import sqlite3

        with sqlite3.connect(folder / "online_store.db") as connection:
            tables = connection.execute("select name from sqlite_master where type = 'table'")
            for (table,) in tables.fetchall():
                connection.execute(f'delete from "{table}"')
            connection.commit()


def _stage(
    name: str, detail: str, command: list[str], env: dict[str, str]
) -> tuple[str, str, float, float, str]:
    print(f"-- {name} {detail}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        print(output[-3000:], file=sys.stderr)
        raise SystemExit(f"{name} failed with exit code {process.returncode}")
    note = _note(output)
    print(f"   {seconds:.1f} s, peak {usage.ru_maxrss / 1024:.0f} MB  {note}", file=sys.stderr)
    return name, detail, seconds, usage.ru_maxrss / 1024, note


def _note(output: str) -> str:
    written = [line.split() for line in output.splitlines() if line.endswith("entities written")]
    if written:
        rate = re.search(r"[\d,]+ entities/s", output)
        total = sum(int(words[1].replace(",", "")) for words in written)
        return f"{total:,} entities written" + (f", {rate.group()}" if rate else "")
    for line in output.splitlines():
        if line.startswith(("generated", "appended", "clean events")):
            return " ".join(line.split())[:80]
    return ""


def _model_times(folder: Path) -> dict[str, float]:
    results = json.loads((folder / "dbt" / "target" / "run_results.json").read_text())["results"]
    return {
        r["unique_id"].split(".")[2]: float(r["execution_time"])
        for r in results
        if r["unique_id"].startswith(("model.", "test."))
    }


def _ratios(rows: list[tuple[str, str, float, float, str]]) -> None:
    by_key = {(stage, detail): seconds for stage, detail, seconds, _, _ in rows}
    for label in ("full", "daily"):
        for store in ("sqlite", "redis"):
            ours = by_key.get((f"pitstop materialize ({label})", store))
            feast = by_key.get((f"feast materialize ({label})", store))
            if ours and feast:
                print(f"materialize {label} {store}: feast / pitstop = {feast / ours:.2f}x")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--start", default="2026-01-01")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--online-store", default="sqlite,redis", help="sqlite, redis or sqlite,redis (both)"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--data-dir", help="keep the data here (default: a temporary folder)")
    parser.add_argument("--reuse-raw", action="store_true", help="keep a raw log already there")
    parser.add_argument(
        "--skip-full",
        action="store_true",
        help="no full build/materialize (the warehouse is already built)",
    )
    parser.add_argument("--skip-feast", action="store_true", help="no `feast materialize` runs")
    parser.add_argument(
        "--feast-stages",
        default="full,daily",
        help="after which builds `feast materialize` runs too (full, daily or full,daily)",
    )
    parser.add_argument(
        "--history",
        type=lambda text: sorted({int(n) for n in text.split(",")}),
        help="daily runs by history: start from --days days, then append and run one day at a "
        "time until the largest of these histories (e.g. --days 8 --history 8,36; the runs at "
        "these histories are compared)",
    )
    args = parser.parse_args()
    for option, given, known in (
        ("--online-store", args.online_store, {"sqlite", "redis"}),
        ("--feast-stages", args.feast_stages, {"full", "daily"}),
    ):
        if unknown := set(given.split(",")) - known:
            parser.error(
                f"{option}: unknown {', '.join(sorted(unknown))}; use {','.join(sorted(known))}"
            )
    return args


if __name__ == "__main__":
    sys.exit(main())
