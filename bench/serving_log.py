"""Online lookup latency with serving logs off, at the default 5 % and at 100 %.

    python bench/serving_log.py --data-dir /tmp/pitstop-bench     # prepares it when empty

For each rate a fresh `pitstop serve` (one worker) on the same data folder; one connection
sends ``--requests`` lookups of 1 entity and of 100 entities (churn_v1, random users); reported
are p50 and p99 in ms. Also the in-process cost of one ``ServingLogger.record`` call.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import time
from pathlib import Path

import httpx

from pitstop.api.background import api_in_background
from pitstop.monitoring.serving_log import ServingLogger
from pitstop.settings import SERVING_LOG_RATE_ENV, Settings


def prepare(settings: Settings, users: int) -> None:
    from pitstop.generator import generate_events
    from pitstop.pipeline import run_daily

    if settings.online_store_path.exists():
        return
    generate_events(settings, users=users, days=14, seed=7, progress=False)
    run_daily(settings)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return (
        statistics.median(ordered) * 1000,
        ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
    )


def measure(settings: Settings, rate: str, requests: int, users: int) -> dict[str, tuple]:
    os.environ[SERVING_LOG_RATE_ENV] = rate
    log = settings.data_dir / f"bench-api-{rate}.log"
    results = {}
    with api_in_background(settings, log_path=log) as server:
        server.wait_until_healthy()
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            rng = random.Random(1)
            for size in (1, 100):
                for _ in range(200):  # warm-up
                    client.post("/get-online-features", json=_body(rng, size, users))
                samples = []
                for _ in range(requests):
                    body = _body(rng, size, users)
                    started = time.perf_counter()
                    response = client.post("/get-online-features", json=body)
                    samples.append(time.perf_counter() - started)
                    response.raise_for_status()
                results[f"{size} entities"] = percentiles(samples)
    return results


def _body(rng: random.Random, size: int, users: int) -> dict:
    return {
        "feature_service": "churn_v1",
        "entities": {"user_id": [rng.randint(1, users) for _ in range(size)]},
    }


def record_cost(rate: float, size: int, calls: int = 20_000) -> float:
    logger = ServingLogger(Path("/tmp/pitstop-bench-serving-log"), rate)
    names = ["user_id"] + [f"f{i}" for i in range(20)]
    users = list(range(size))
    now = dt.datetime.now(dt.timezone.utc)
    values = [users] + [[1.0] * size for _ in range(20)]
    statuses = [["PRESENT"] * size for _ in names]
    stamps = [[]] + [["2026-03-05T00:00:00Z"] * size for _ in range(20)]
    started = time.perf_counter()
    for call in range(calls):
        logger.record(
            feature_service="churn_v1",
            feature_refs=[],
            entities={"user_id": [user + call * size for user in users]},
            request_time=now,
            feature_names=names,
            values=values,
            statuses=statuses,
            event_timestamps=stamps,
        )
    elapsed = (time.perf_counter() - started) / calls
    logger.flush()
    return elapsed * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/pitstop-bench-serving"))
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--rates", default="0,0.05,1")
    args = parser.parse_args()
    for rate in (0.05, 1.0):
        for size in (1, 100):
            cost = record_cost(rate, size, 2_000 if size == 100 else 20_000)
            print(f"record(): rate {rate:<4} {size:>3} entities  {cost:8.1f} us per call")
    settings = Settings.from_env(args.data_dir)
    prepare(settings, args.users)
    for rate in args.rates.split(","):
        for what, (p50, p99) in measure(settings, rate, args.requests, args.users).items():
            print(f"HTTP, log rate {rate:<5} {what:<12} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")


if __name__ == "__main__":
    main()
