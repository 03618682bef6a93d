"""Online lookups: pitstop's API against `feast serve`, same registry, same store, same load.

    python bench/online.py                       # 10k users x 30 days, SQLite and Redis
    python bench/online.py --stores sqlite --duration 10 --repeats 3

Prepares one data folder (generate, build, apply) and materializes it into pitstop's SQLite
store (its layout, one row per entity and view), into Feast's own SQLite store with plain
Feast (bench/plain_feast.py: the baseline reads Feast's layout with Feast's code), and into
Redis twice: pitstop's layout by `pitstop materialize` (--redis-url) and Feast's layout by
plain Feast (--feast-redis-url), each a dedicated database. Then,
per store, starts `pitstop serve` and `feast serve` (one worker each; Feast with
--max-requests high and its access log off, so it is not restarted mid-run) and drives each
with wrk (Debian's `wrk` package: `apt-get install wrk`) from a Lua script that asks for random
users (and items) on every request:

    1 entity,    1 connection     latency (p50, p99) and requests/s
    1 entity,   32 connections    throughput
    100 entities, 1 connection    latency

for each feature service (--services). Runs alternate between the servers, each case
--repeats times; the table shows medians and the ratio pitstop / Feast. Start-up is the time
from starting the process to its first 200 on /ready (pitstop) or /health (Feast).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "service"))
sys.path.insert(0, str(ROOT / "bench"))

import plain_feast  # noqa: E402 - bench/plain_feast.py: the baseline's config
from pitstop.api.background import free_port  # noqa: E402
from pitstop.build.run import build  # noqa: E402
from pitstop.feast_adapter import repo  # noqa: E402
from pitstop.feast_adapter.config import feast_environment  # noqa: E402
from pitstop.generator import generate_events  # noqa: E402
from pitstop.materialize import materialize  # noqa: E402
from pitstop.settings import FEATURE_REPO_DIR, Settings  # noqa: E402

CASES = (("1 entity, 1 conn", 1, 1), ("1 entity, 32 conn", 1, 32), ("100 entities, 1 conn", 100, 1))
_LUA = """
math.randomseed(%(seed)d)
local users, items, rows = %(users)d, %(items)d, %(rows)d
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local u, i = {}, {}
  for r = 1, rows do
    u[r] = tostring(math.random(1, users))
    i[r] = tostring(math.random(1, items))
  end
  local entities = '"user_id": [' .. table.concat(u, ",") .. ']'
  if %(with_items)s then
    entities = entities .. ', "item_id": [' .. table.concat(i, ",") .. ']'
  end
  if %(with_request_time)s then
    -- churn_v1's on-demand view reads request_time: Feast's server needs it in the request
    local now, t = tostring(os.time()), {}
    for r = 1, rows do t[r] = now end
    entities = entities .. ', "request_time": [' .. table.concat(t, ",") .. ']'
  end
  return wrk.format(nil, "/get-online-features",
    nil, '{"feature_service": "%(service)s", "entities": {' .. entities .. '}}')
end
"""


@dataclass(frozen=True)
class Run:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--stores", default="sqlite,redis")
    parser.add_argument("--services", default="ranking_v1,churn_v1")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--feast-redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--data-dir", type=Path, help="reuse a folder made by an earlier run")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/online.py needs wrk: apt-get install wrk")

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="pitstop-bench-online-"))
    base = Settings.from_env(data_dir)
    _prepare(base, args)
    items = item_count(base)
    print(f"data: {data_dir} ({args.users:,} users, {items:,} items, {args.days} days)")

    table: list[tuple[str, str, str, Run, Run]] = []
    starts: dict[tuple[str, str], list[float]] = {}
    for store in args.stores.split(","):
        settings = replace(base, online_store=store, redis_url=args.redis_url)
        feast_settings = replace(settings, redis_url=args.feast_redis_url)
        urls = (args.redis_url, args.feast_redis_url)
        if store == "redis" and not (args.data_dir and all(map(_redis_keys, urls))):
            _progress(f"materializing into Redis: pitstop {urls[0]}, plain Feast {urls[1]}")
            for url in urls:
                _flush_redis(url)
            materialize(settings)
            plain_feast.materialize(feast_settings)
        with (
            server_for("pitstop", settings) as (pitstop_url, pitstop_start),
            server_for("feast", feast_settings) as (feast_url, feast_start),
        ):
            starts.setdefault((store, "pitstop"), []).append(pitstop_start)
            starts.setdefault((store, "feast"), []).append(feast_start)
            for service in args.services.split(","):
                for case, rows, connections in CASES:
                    runs: dict[str, list[Run]] = {"pitstop": [], "feast": []}
                    for repeat in range(args.repeats):
                        for name, url in (("pitstop", pitstop_url), ("feast", feast_url)):
                            script = request_script(
                                data_dir, service, rows, args.users, items, repeat
                            )
                            runs[name].append(run_wrk(url, script, connections, args.duration))
                    _progress(f"{store} {service} {case}: done")
                    table.append(
                        (
                            store,
                            service,
                            case,
                            median_run(runs["pitstop"]),
                            median_run(runs["feast"]),
                        )
                    )
    _print(table, starts, args)
    return 0


def _prepare(settings: Settings, args: argparse.Namespace) -> None:
    if not (args.data_dir and settings.registry_path.exists()):
        _progress(f"generating {args.users:,} users x {args.days} days")
        generate_events(settings, users=args.users, days=args.days, seed=7, progress=False)
        _progress("dbt build")
        build(settings, echo=None)
        _progress("feast apply, materialize into pitstop's SQLite store")
        repo.apply(settings, echo=None)
        materialize(settings)
    if not plain_feast.online_store_path(settings).exists():
        _progress("materialize into Feast's own SQLite store with plain Feast (the baseline)")
        plain_feast.materialize(settings)


def item_count(settings: Settings) -> int:
    return largest_id(settings, "item_popularity", "item_id")


def largest_id(settings: Settings, table: str, column: str) -> int:
    """The largest id in a feature table (ids are 1..n): the range the Lua script draws from."""
    import duckdb

    path = settings.features_dir / table / "*.parquet"
    count = duckdb.sql(f"select max({column}) from read_parquet('{path}')").fetchall()[0][0]
    return int(count or 1)


def _flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def _redis_keys(url: str) -> int:
    import redis

    return int(redis.Redis.from_url(url).dbsize())


@contextlib.contextmanager
def server_for(
    kind: str,
    settings: Settings,
    extra_env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[tuple[str, float]]:
    """A server on a free port, once it answers 200: its URL and seconds to ready."""
    port = free_port()
    # pitstop reads its own layout; `feast serve` is plain Feast (bench/plain_feast.py).
    feast = feast_environment(settings) if kind == "pitstop" else plain_feast.environment(settings)
    env = {**os.environ, **settings.environment(), **feast}
    env.update(extra_env or {})
    if kind == "pitstop":
        command = [sys.executable, "-m", "pitstop.cli", "serve", "--quiet", "--port", str(port)]
        ready = "/ready"
    else:
        command = [
            sys.executable,
            "-c",
            "import sys; from feast.cli.cli import cli; sys.exit(cli())",
        ]
        command += ["-c", str(FEATURE_REPO_DIR), "serve", "-p", str(port), "--workers", "1"]
        command += ["--max-requests", "100000000", "--no-access-log"]
        ready = "/health"
    log = Path(tempfile.mkdtemp(prefix="pitstop-bench-")) / f"{kind}.log"
    started = time.perf_counter()
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                sys.exit(f"{kind} exited; see {log}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(url + ready, timeout=1) as answer,
            ):
                if answer.status == 200:
                    break
            time.sleep(0.05)
        yield url, time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=20)


def request_script(
    folder: Path, service: str, rows: int, users: int, items: int, seed: int
) -> Path:
    path = folder / f"wrk-{service}-{rows}.lua"
    path.write_text(
        _LUA
        % {
            "seed": seed + 1,
            "users": users,
            "items": items,
            "rows": rows,
            "service": service,
            "with_items": "true" if service == "ranking_v1" else "false",
            "with_request_time": "true" if service == "churn_v1" else "false",
        }
    )
    return path


def run_wrk(url: str, script: Path, connections: int, duration: int) -> Run:
    threads = min(2, connections)
    result = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = result.stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Run(
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_latency(out, "50%"),
        p99_ms=_latency(out, "99%"),
        errors=int(errors.group(1)) if errors else 0,
    )


def _latency(out: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def median_run(runs: list[Run]) -> Run:
    return Run(
        requests_per_s=statistics.median(run.requests_per_s for run in runs),
        p50_ms=statistics.median(run.p50_ms for run in runs),
        p99_ms=statistics.median(run.p99_ms for run in runs),
        errors=sum(run.errors for run in runs),
    )


def _print(
    table: list[tuple[str, str, str, Run, Run]],
    starts: dict[tuple[str, str], list[float]],
    args: argparse.Namespace,
) -> None:
    print()
    print(
        f"medians of {args.repeats} runs of {args.duration} s each; ratio = pitstop / feast serve"
    )
    header = (
        "| store | service | case | pitstop req/s | p50 ms | p99 ms | feast req/s | p50 ms "
        "| p99 ms | req/s ratio | p99 ratio |"
    )
    print(header)
    print("|---" * 11 + "|")
    for store, service, case, ours, theirs in table:
        print(
            f"| {store} | {service} | {case} | {ours.requests_per_s:,.0f} | {ours.p50_ms:.2f} "
            f"| {ours.p99_ms:.2f} | {theirs.requests_per_s:,.0f} | {theirs.p50_ms:.2f} "
            f"| {theirs.p99_ms:.2f} | {ours.requests_per_s / theirs.requests_per_s:.1f}x "
            f"| {theirs.p99_ms / ours.p99_ms:.1f}x lower |"
        )
        if ours.errors or theirs.errors:
            print(f"  non-2xx answers: pitstop {ours.errors}, feast {theirs.errors}")
    print()
    for (store, kind), seconds in sorted(starts.items()):
        print(f"start-up to ready, {store}, {kind}: {statistics.median(seconds):.1f} s")


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
