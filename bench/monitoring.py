"""Profile + drift of N rows x 8 features: pitstop's monitoring pass against Evidently's
data-drift report on the same frames, in the same run.

    python bench/monitoring.py                    # 1M rows x 8 features, 5 runs each
    python bench/monitoring.py --rows 100000 --runs 3 --skip-evidently

Each method runs in its own child process, which builds the same two frames (reference and
current, fixed seed; two features shifted, one with a null spike), resets its peak-RSS counter
(/proc/self/clear_refs) and then times the method ``--runs`` times. Reported: the median and
every time, the median CPU time of the process (all threads: on a shared machine the wall
time depends on what else runs, the CPU time much less), and the peak RSS above what the
frames already took. pitstop's pass is what
``pitstop monitor`` does per feature table: bins from the reference (min, deciles, max), one
profile pass over each frame on those bins (count, nulls, sum, sum of squares, min, max, five
quantiles, histogram), PSI per feature. Evidently (``pip install -e '.[bench]'``) runs
``Report([DataDriftPreset(method=...)])`` on the same pandas frames; ``--evidently-method
psi`` (the default) makes it compute the same statistic.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

FEATURES = 8


def frames(rows: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current: counts and amounts; current shifts two and spikes nulls in one."""

    def draw(rng: np.random.Generator, shift: bool) -> pd.DataFrame:
        columns: dict[str, Any] = {}
        for index in range(FEATURES):
            if index % 2 == 0:
                values = rng.poisson(5 + index, rows).astype("float64")
            else:
                values = np.round(rng.gamma(2.0, 20.0 + index, rows), 2)
            if shift and index in (1, 2):
                values = values * 1.3
            if shift and index == 3:
                values[rng.random(rows) < 0.2] = np.nan
            columns[f"f{index}"] = values
        return pd.DataFrame(columns)

    rng = np.random.default_rng(seed)
    return draw(rng, shift=False), draw(rng, shift=True)


def run_pitstop(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    from pitstop import spill
    from pitstop.monitoring.drift import psi
    from pitstop.monitoring.profiles import cut_points, profile_rows

    names = list(reference.columns)
    with spill.connect() as connection:
        connection.register("reference", reference)
        connection.register("current", current)
        bins = cut_points(connection, "SELECT * FROM reference", names)
        base = profile_rows(connection, "SELECT * FROM reference", bins, by_day=False)[None]
        now = profile_rows(connection, "SELECT * FROM current", bins, by_day=False)[None]
    return {name: psi(base[name].counts, now[name].counts) for name in names}


def run_evidently(reference: pd.DataFrame, current: pd.DataFrame, method: str) -> Any:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=list(reference.columns))
    report = Report([DataDriftPreset(method=method)])
    return report.run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )


def worker(method: str, rows: int, runs: int, evidently_method: str) -> None:
    reference, current = frames(rows)
    with open("/proc/self/clear_refs", "w") as reset:
        reset.write("5")  # peak RSS := current RSS, so the peak below excludes the frames
    before = _rss_kb("VmRSS")
    times, cpu = [], []
    result: Any = None
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        if method == "pitstop":
            result = run_pitstop(reference, current)
        else:
            result = run_evidently(reference, current, evidently_method)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    extra = {"psi": {k: round(v, 4) for k, v in result.items()}} if method == "pitstop" else {}
    print(
        json.dumps(
            {
                "method": method,
                "times": times,
                "cpu": cpu,
                "peak_mb_above_frames": (_rss_kb("VmHWM") - before) / 1024,
                **extra,
            }
        )
    )


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--evidently-runs", type=int, default=3)
    parser.add_argument("--evidently-method", default="psi", help="psi (default), or wasserstein")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--worker", choices=["pitstop", "evidently"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        runs = args.runs if args.worker == "pitstop" else args.evidently_runs
        worker(args.worker, args.rows, runs, args.evidently_method)
        return
    print(
        f"{args.rows:,} rows x {FEATURES} features, reference and current; cores: {os.cpu_count()}"
    )
    results = {}
    for method in ["pitstop"] + ([] if args.skip_evidently else ["evidently"]):
        command = [sys.executable, __file__, "--worker", method, "--rows", str(args.rows)]
        command += ["--runs", str(args.runs), "--evidently-runs", str(args.evidently_runs)]
        command += ["--evidently-method", args.evidently_method]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        results[method] = result
        median = statistics.median(result["times"])
        runs = ", ".join(f"{t:.3f}" for t in result["times"])
        cpu = statistics.median(result["cpu"])
        print(
            f"{method:<10} median {median:8.3f} s wall, {cpu:.3f} s CPU (all threads)  "
            f"runs {runs}  peak +{result['peak_mb_above_frames']:.0f} MB"
        )
        if "psi" in result:
            print(f"           psi {result['psi']}")
    if "evidently" in results:
        ratio = statistics.median(results["evidently"]["times"]) / statistics.median(
            results["pitstop"]["times"]
        )
        cpu_ratio = statistics.median(results["evidently"]["cpu"]) / statistics.median(
            results["pitstop"]["cpu"]
        )
        print(
            f"pitstop is {ratio:.1f}x faster than Evidently ({args.evidently_method}) in wall "
            f"time, {cpu_ratio:.1f}x in CPU time"
        )


if __name__ == "__main__":
    main()
