"""The ceiling of a Python lookup server on this machine, next to pitstop and `feast serve`.

    python bench/online.py --data-dir /tmp/pitstop-bench-online --stores redis   # once
    python bench/online_floor.py --data-dir /tmp/pitstop-bench-online

Issue 18 asks for one entity at 32 connections at >= 10x `feast serve`'s requests/s. Whether
that is reachable depends on how fast any Python server answers here at all, with wrk, the
server and (for Redis) the Redis server sharing the machine's two cores. This starts, on the
data folder bench/online.py prepared, four servers with the options `pitstop serve` uses
(uvicorn, one worker, asyncio's loop, no access log):

    pitstop     `pitstop serve`, the real API
    feast       `feast serve` on Feast's own store (the baseline of the target)
    floor       a bare ASGI app: reads the request body, sends one EVALSHA of pitstop's read
                script for the same hashes and fields a `churn_v1` lookup of one user reads
                (--fields), answers a fixed JSON body. No parsing, no validation, no answer
                built: what is left is uvicorn, the socket, redis-py's connection and Redis
    http-floor  the same app without the Redis call: uvicorn alone

and drives each with the same wrk script as bench/online.py (1 entity per request, random
users), runs alternating, each --repeats times. The ratio floor / feast is the most any
server of this shape can show against `feast serve` here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import online  # noqa: E402 - bench/online.py: data, servers, wrk and its Lua script
from pitstop.api.background import free_port  # noqa: E402
from pitstop.settings import Settings  # noqa: E402

_ANSWER = b'{"metadata": {"feature_names": []}, "results": []}'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--feast-redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--service", default="churn_v1")
    parser.add_argument("--fields", default="row:user_activity,row:user_profile")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the floor's child
    parser.add_argument("--no-redis", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return _serve(args)

    settings = Settings.from_env(args.data_dir)
    if not settings.registry_path.exists():
        sys.exit(f"{args.data_dir} has no registry: run bench/online.py --data-dir first")
    if not online._redis_keys(args.redis_url) or not online._redis_keys(args.feast_redis_url):
        sys.exit("Redis is empty: run bench/online.py --data-dir DIR --stores redis first")
    settings = replace(settings, online_store="redis", redis_url=args.redis_url)
    feast_settings = replace(settings, redis_url=args.feast_redis_url)
    users = online.largest_id(settings, "user_profile", "user_id")
    items = online.item_count(settings)
    with contextlib.ExitStack() as stack:
        urls = {
            "pitstop": stack.enter_context(online.server_for("pitstop", settings))[0],
            "feast": stack.enter_context(online.server_for("feast", feast_settings))[0],
            "floor": stack.enter_context(_floor(args, redis=True)),
            "http-floor": stack.enter_context(_floor(args, redis=False)),
        }
        warm_up = online.request_script(args.data_dir, args.service, 1, users, items, 0)
        for url in urls.values():
            online.run_wrk(url, warm_up, 1, 1)
        runs: dict[str, list[online.Run]] = {name: [] for name in urls}
        for repeat in range(args.repeats):
            script = online.request_script(args.data_dir, args.service, 1, users, items, repeat)
            for name, url in urls.items():
                runs[name].append(online.run_wrk(url, script, args.connections, args.duration))
                print(f"[bench] repeat {repeat + 1} {name}: done", file=sys.stderr, flush=True)
    feast = online.median_run(runs["feast"]).requests_per_s
    print(
        f"\nRedis, {args.service}, 1 entity, {args.connections} connections; medians of "
        f"{args.repeats} runs of {args.duration} s; load average {os.getloadavg()[0]:.1f}"
    )
    print("| server | req/s | p50 ms | p99 ms | / feast serve | each run's req/s |")
    print("|---|---:|---:|---:|---:|---|")
    for name, measured in runs.items():
        median = online.median_run(measured)
        each = ", ".join(f"{run.requests_per_s:,.0f}" for run in measured)
        print(
            f"| {name} | {median.requests_per_s:,.0f} | {median.p50_ms:.2f} | "
            f"{median.p99_ms:.2f} | {median.requests_per_s / feast:.1f}x | {each} |"
        )
        if median.errors:
            print(f"  non-2xx answers: {median.errors}")
    return 0


@contextlib.contextmanager
def _floor(args: argparse.Namespace, *, redis: bool) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, __file__, "--data-dir", str(args.data_dir), "--serve", str(port)]
    command += ["--redis-url", args.redis_url, "--fields", args.fields]
    command += [] if redis else ["--no-redis"]
    log = Path(tempfile.mkdtemp(prefix="pitstop-bench-floor-")) / "floor.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                sys.exit(f"the floor server exited; see {log}")
            with contextlib.suppress(OSError), urllib.request.urlopen(url + "/ready") as answer:
                if answer.status == 200:
                    break
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _serve(args: argparse.Namespace) -> int:
    import redis
    import uvicorn

    from pitstop.online.redis_store import AsyncReads

    fields = [field.encode() for field in args.fields.split(",")]
    client = redis.Redis.from_url(args.redis_url)
    # pitstop's user hashes: those holding every field a churn_v1 lookup reads
    hashes = [
        key
        for key in client.scan_iter(count=10_000)
        if client.type(key) == b"hash" and all(client.hexists(key, field) for field in fields)
    ][:20_000]
    if not hashes:
        sys.exit(f"no hash in {args.redis_url} has the fields {args.fields}")
    reads = None if args.no_redis else AsyncReads(args.redis_url)

    async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        if reads is not None and scope["path"] != "/ready":
            key = random.choice(hashes)
            replies = await reads.run([key] * len(fields), fields)
            assert all(reply is not None for reply in replies)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": _ANSWER})

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.serve,
        loop="asyncio",
        access_log=False,
        log_level="warning",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
