"""Two versions of pitstop's lookup API side by side: same data, same load, alternating runs.

    python bench/online_ab.py --data-dir /tmp/pitstop-bench-online \\
        --variant before=/path/to/old/checkout --variant after=.
    python bench/online_ab.py --data-dir DIR --variant log5=.:0.05 --variant log0=.:0

On a shared machine absolute figures move from one hour to the next (this one ran at half its
usual speed for a whole session); a change is judged by running the old and the new server in
the same minutes. Each ``--variant NAME=CHECKOUT[:SERVING_LOG_RATE]`` starts ``pitstop serve``
from that checkout's ``service/`` folder on the same data folder (prepared by
``bench/online.py --data-dir DIR``) and store; wrk runs alternate between them, each case
--repeats times, and the medians are printed with every run's p99.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import online  # noqa: E402 - bench/online.py: data, wrk and its Lua script
from pitstop.settings import SERVING_LOG_RATE_ENV, Settings  # noqa: E402

CASES = {"1x1": (1, 1), "100x1": (100, 1), "1x32": (1, 32)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=CHECKOUT[:RATE]")
    parser.add_argument("--store", default="sqlite", choices=("sqlite", "redis"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--services", default="churn_v1,ranking_v1")
    parser.add_argument("--cases", default="1x1,100x1,1x32", help=f"of {', '.join(CASES)}")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    settings = Settings.from_env(args.data_dir)
    if not settings.registry_path.exists():
        sys.exit(f"{args.data_dir} has no registry: run bench/online.py --data-dir first")
    settings = replace(settings, online_store=args.store, redis_url=args.redis_url)
    users = online.largest_id(settings, "user_profile", "user_id")
    items = online.item_count(settings)
    variants = [_variant(text) for text in args.variant]
    with contextlib.ExitStack() as stack:
        urls = {
            name: stack.enter_context(_server(settings, checkout, rate))
            for name, checkout, rate in variants
        }
        print(f"{args.store}, {users:,} users, {items:,} items; medians of {args.repeats} runs")
        warm_up = online.request_script(
            args.data_dir, args.services.split(",")[0], 1, users, items, 0
        )
        for url in urls.values():  # first requests compile plans and fill caches: not measured
            online.run_wrk(url, warm_up, 1, 1)
        for service in args.services.split(","):
            for case in args.cases.split(","):
                rows, connections = CASES[case]
                runs: dict[str, list[online.Run]] = {name: [] for name in urls}
                for repeat in range(args.repeats):
                    script = online.request_script(
                        args.data_dir, service, rows, users, items, repeat
                    )
                    for name, url in urls.items():
                        runs[name].append(online.run_wrk(url, script, connections, args.duration))
                for name, measured in runs.items():
                    median = online.median_run(measured)
                    p99s = ", ".join(f"{run.p99_ms:.1f}" for run in measured)
                    print(
                        f"{service:<11} {rows:>3} entities {connections:>2} conn  {name:<10} "
                        f"{median.requests_per_s:7,.0f} req/s  p50 {median.p50_ms:6.2f}  "
                        f"p99 {median.p99_ms:6.2f} ms  (p99s {p99s})",
                        flush=True,
                    )
    return 0


def _variant(text: str) -> tuple[str, Path, str | None]:
    name, equals, rest = text.partition("=")
    if not equals or not name:
        sys.exit(f"--variant {text!r}: expected NAME=CHECKOUT[:SERVING_LOG_RATE]")
    checkout, _, rate = rest.partition(":")
    service = Path(checkout).resolve() / "service"
    if not (service / "pitstop").is_dir():
        sys.exit(f"--variant {text!r}: {service} has no pitstop package")
    return name, service, rate or None


@contextlib.contextmanager
def _server(settings: Settings, service: Path, rate: str | None) -> Iterator[str]:
    """``pitstop serve`` from another checkout: its ``service/`` ahead of the editable install."""
    extra = {"PYTHONPATH": str(service)}
    if rate is not None:
        extra[SERVING_LOG_RATE_ENV] = rate
    with online.server_for("pitstop", settings, extra, cwd=service.parent) as (url, _):
        yield url


if __name__ == "__main__":
    raise SystemExit(main())
