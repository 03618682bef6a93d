"""The daily job on both offline engines, on the same raw files: DuckDB (default) and Spark
(PITSTOP_ENGINE=spark, local mode).

    python bench/engines.py --users 2000 --days 30 --repeats 3

Generates one raw log, then for each engine and repeat copies it into a fresh data folder and
runs, each in a fresh process: `pitstop run` (build -> apply -> materialize; its stage times are
read from its output) and `pitstop training-set` for churn_v1 over a daily spine of the last two
weeks. The Spark process includes starting its JVM (part of "build"). Prints the medians of
each stage per engine and the Spark/DuckDB ratio. Needs pitstop[spark] and Java 17.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENGINES = ("duckdb", "spark")
STAGES = ("build", "apply", "materialize", "total")


def pitstop(*args: str, engine: str) -> tuple[str, float]:
    """Run `pitstop <args>` in a fresh process; its output and wall seconds."""
    env = {**os.environ, "PITSTOP_ENGINE": engine}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pitstop.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"pitstop {' '.join(args)} failed on {engine}:\n{result.stderr[-2000:]}")
    return result.stdout, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", default=",".join(ENGINES))
    args = parser.parse_args()

    engines = args.engines.split(",")
    with tempfile.TemporaryDirectory(prefix="pitstop-engines-") as folder:
        source = Path(folder) / "source"
        out, _ = pitstop(
            "generate",
            "--data-dir",
            str(source),
            "--users",
            str(args.users),
            "--days",
            str(args.days),
            "--quiet",
            engine="duckdb",
        )
        lines = sum(1 for path in source.glob("raw/events/*/*.jsonl") for _ in path.open("rb"))
        print(f"raw log: {args.users:,} users, {args.days} days, {lines:,} lines")
        end = dt.date.today()
        start = end - dt.timedelta(days=14)
        times: dict[str, dict[str, list[float]]] = {engine: {} for engine in engines}
        for repeat in range(args.repeats):
            for engine in engines:
                data = Path(folder) / f"{engine}-{repeat}"
                shutil.copytree(source / "raw", data / "raw")
                out, wall = pitstop("run", "--data-dir", str(data), engine=engine)
                stages = {
                    name: float(value)
                    for name, value in re.findall(r"^(\w+)\s+([\d.]+) s", out, re.MULTILINE)
                }
                stages["run process"] = wall
                _, stages["training-set process"] = pitstop(
                    "training-set",
                    "--data-dir",
                    str(data),
                    "--feature-service",
                    "churn_v1",
                    "--start",
                    start.isoformat(),
                    "--end",
                    end.isoformat(),
                    "--out",
                    str(data / "churn.parquet"),
                    "--quiet",
                    engine=engine,
                )
                for name, value in stages.items():
                    times[engine].setdefault(name, []).append(value)
                print(
                    f"repeat {repeat} {engine}: "
                    + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
                )
                shutil.rmtree(data)

    print("\nmedians (seconds)" + "".join(f"  {engine:>10}" for engine in engines) + "  ratio")
    for name in times[engines[0]]:
        medians = [statistics.median(times[engine][name]) for engine in engines]
        ratio = f"  {medians[-1] / medians[0]:.1f}x" if len(medians) == 2 and medians[0] else ""
        print(f"{name:<22}" + "".join(f"  {value:10.1f}" for value in medians) + ratio)


if __name__ == "__main__":
    main()
