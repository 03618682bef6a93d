"""Training sets as users run them: `pitstop training-set` against a plain-Feast script, each a
whole process, with the inner calls beside them.

    python bench/training_set.py --rows 200000 --repeats 3
    python bench/training_set.py --rows 1000000          # issue 18's size

Writes synthetic feature tables with the dbt marts' schemas (bench/materialize.py's
``write_tables``: --users users and --users/10 items, --days daily rows each, 20k x 45 by
default as in issue 18) into a temporary data folder, runs `pitstop apply`, and writes one
entity file of --rows rows (random users, 5 % never seen, random times over the tables' span
plus two days, a label column). Then, on that file and registry, --repeats times each:

- ``pitstop``: ``python -m pitstop.cli training-set --feature-service churn_v1 --entities ...
  --out ...``, the command a user types;
- ``feast``: a script doing what a user of plain Feast does, ``FeatureStore(...)
  .get_historical_features(entity_df, features=store.get_feature_service("churn_v1")).to_df()``
  with Feast's own DuckDB offline store (``type: duckdb``, the same registry and files; the
  entity Parquet read with pandas, ``request_time`` set to ``event_timestamp`` as pitstop does),
  the frame written to Parquet;
- ``pitstop_inner``: :func:`pitstop.offline.build_training_set` in a process that imported
  pitstop and Feast first, timed alone.

Whole-process time is the wall clock of the child, interpreter start and imports included;
peak is the child's max RSS (``os.wait4``). The inner time excludes imports: pitstop's is
``build_training_set`` (registry read, checks, join, on-demand view, Parquet written), Feast's
is reading the entity Parquet to ``to_parquet`` of the result. Prints medians and ratios
(Feast / pitstop). Every child gets this checkout's ``service/`` first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
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

HERE = Path(__file__).resolve().parent
SERVICE = HERE.parent / "service"
sys.path.insert(0, str(HERE))

import offline  # noqa: E402 - bench/offline.py: its entity file
import plain_feast  # noqa: E402 - bench/plain_feast.py: the baseline's config
from pitstop.settings import Settings  # noqa: E402 - on the path through plain_feast

FEATURE_SERVICE = "churn_v1"
METHODS = ("pitstop", "feast", "pitstop_inner")

# Plain Feast as its docs show it; the JSON on the last line is the inner call.
_FEAST_CHILD = textwrap.dedent(
    """
    import json, sys, time
    started = time.perf_counter()
    import pandas as pd
    from feast import FeatureStore
    imported = time.perf_counter() - started
    repo, yaml_path, entities_path, out = sys.argv[1:5]
    begun = time.perf_counter()
    store = FeatureStore(repo_path=repo, fs_yaml_file=yaml_path)
    entity_df = pd.read_parquet(entities_path)
    entity_df["request_time"] = entity_df["event_timestamp"]  # user_recency's request field
    result = store.get_historical_features(
        entity_df=entity_df, features=store.get_feature_service(sys.argv[5])
    ).to_df()
    result.to_parquet(out, index=False)
    print(json.dumps({"inner": time.perf_counter() - begun, "imports": imported,
                      "rows": len(result)}))
    """
)

# pitstop's inner call: everything imported before the clock starts.
_PITSTOP_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from pitstop.offline import build_training_set
    from pitstop.settings import Settings
    import feast.infra.offline_stores.duckdb  # noqa: F401
    import pitstop.offline.store  # noqa: F401
    folder, entities_path, out = sys.argv[1:4]
    begun = time.perf_counter()
    report = build_training_set(
        Settings.from_env(folder), feature_service=sys.argv[4], entities=Path(entities_path),
        out=Path(out), echo=lambda line: None,
    )
    print(json.dumps({"inner": time.perf_counter() - begun, "rows": report.rows}))
    """
)


def _environment() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(SERVICE), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def _entities(folder: Path, users: int, days: int, rows: int) -> Path:
    """``rows`` entity rows over the span of bench/materialize.py's tables (which end
    yesterday, UTC midnight) plus two days."""
    import datetime as dt

    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    start = (today - dt.timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S+00")
    path = folder / f"entities_{rows}.parquet"
    return offline.write_entities(path, users, start, (days + 2) * 86400, rows)


def _run(command: list[str]) -> dict[str, float]:
    """Run ``command``; its wall seconds, peak RSS (MiB) and the JSON of its last line, if any."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, env=_environment())
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed:\n{stderr[-3000:]}{stdout[-2000:]}")
    measured: dict[str, float] = {"wall": wall, "peak_mb": usage.ru_maxrss / 1024}
    last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    if last.startswith("{"):
        measured |= json.loads(last)
    return measured


def _measure(method: str, folder: Path, entities: Path) -> dict[str, float]:
    out = folder / f"out_{method}.parquet"
    out.unlink(missing_ok=True)
    python = sys.executable
    if method == "pitstop":
        command = [python, "-m", "pitstop.cli", "training-set", "--data-dir", str(folder)]
        command += ["--feature-service", FEATURE_SERVICE, "--entities", str(entities)]
        command += ["--out", str(out)]
    elif method == "feast":
        repo = str(SERVICE.parent / "feature_repo")
        yaml_path = str(plain_feast.yaml_path(Settings.from_env(folder)))
        command = [python, "-c", _FEAST_CHILD, repo, yaml_path, str(entities), str(out)]
        command.append(FEATURE_SERVICE)
    else:
        command = [python, "-c", _PITSTOP_CHILD, str(folder), str(entities), str(out)]
        command.append(FEATURE_SERVICE)
    measured = _run(command)
    import pyarrow.parquet as pq

    measured["rows"] = pq.read_metadata(out).num_rows
    return measured


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="entity rows (default 200k)")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=45, help="daily rows per user and item")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma-separated, of {', '.join(METHODS)}"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s): {', '.join(unknown)}")

    sys.path.insert(0, str(HERE))
    from materialize import write_tables

    folder = Path(tempfile.mkdtemp(prefix="pitstop-bench-training-"))
    try:
        write_tables(folder / "features", args.users, max(args.users // 10, 1), args.days)
        subprocess.run(
            [sys.executable, "-m", "pitstop.cli", "apply", "--data-dir", str(folder), "--quiet"],
            env=_environment(),
            check=True,
            capture_output=True,
        )
        entities = _entities(folder, args.users, args.days, args.rows)
        load = os.getloadavg()[0]
        print(
            f"data: {args.users:,} users x {args.days} days, {args.rows:,} entity rows, "
            f"{FEATURE_SERVICE}; {os.cpu_count()} CPUs, load {load:.2f}; {folder}",
            flush=True,
        )
        runs: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
        for repeat in range(args.repeats):
            for method in methods:  # interleaved, so a noisy minute hits every method
                measured = _measure(method, folder, entities)
                runs[method].append(measured)
                inner = f"inner {measured['inner']:6.2f} s" if "inner" in measured else ""
                print(
                    f"  run {repeat + 1}: {method:<14} {measured['wall']:6.2f} s "
                    f"{measured['peak_mb']:6.0f} MiB  {inner}",
                    flush=True,
                )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    medians = {
        method: {
            key: statistics.median(run[key] for run in measured if key in run)
            for key in ("wall", "peak_mb", "inner", "imports")
            if any(key in run for run in measured)
        }
        for method, measured in runs.items()
    }
    rows_out = {int(run["rows"]) for measured in runs.values() for run in measured}
    print(f"\nmedians of {args.repeats}; rows written: {', '.join(f'{r:,}' for r in rows_out)}")
    print("| method | whole process s | peak MiB | inner call s |")
    print("|---|---:|---:|---:|")
    for method, median in medians.items():
        inner = f"{median['inner']:.2f}" if "inner" in median else "-"
        print(f"| {method} | {median['wall']:.2f} | {median['peak_mb']:,.0f} | {inner} |")
    if "pitstop" in medians and "feast" in medians:
        ours, feast = medians["pitstop"], medians["feast"]
        print(
            f"whole process: Feast / pitstop = {feast['wall'] / ours['wall']:.2f}x; "
            f"peak {ours['peak_mb']:,.0f} vs {feast['peak_mb']:,.0f} MiB"
        )
    if "pitstop_inner" in medians and "feast" in medians:
        ratio = medians["feast"]["inner"] / medians["pitstop_inner"]["inner"]
        print(f"inner call: Feast / pitstop = {ratio:.2f}x")


if __name__ == "__main__":
    main()
