"""The ``pitstop`` command line.

Only the standard library is imported at module level, so ``pitstop --help`` answers at once;
each command imports what it needs (dbt, DuckDB, Feast) when it runs. Every
:class:`~pitstop.errors.PitstopError` becomes one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pitstop.errors import (
    PitstopError,
    engine_error_line,
    is_engine_error,
    os_error_line,
    redacted,
)
from pitstop.settings import DATA_DIR_ENV, Settings

Handler = Callable[[argparse.Namespace, Settings], int]
_NEXT_DAY = "next"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        settings = Settings.from_env(
            args.data_dir, host=getattr(args, "host", None), port=getattr(args, "port", None)
        )
        return handler(args, settings)
    except PitstopError as error:
        print(f"pitstop {args.command}: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"pitstop {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`pitstop ... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as error:  # the machine refused: a full disk, a read-only folder...
        print(f"pitstop {args.command}: {os_error_line(error)}", file=sys.stderr)
        return 1
    except Exception as error:
        if not is_engine_error(error):  # a bug of pitstop's: its stack trace helps fix it
            raise
        # DuckDB out of memory or refused a file where no step translated it.
        print(f"pitstop {args.command}: {engine_error_line(error)}", file=sys.stderr)
        return 1


# ---- commands --------------------------------------------------------------------------------


def _generate(args: argparse.Namespace, settings: Settings) -> int:
    from pitstop.generator import append_day, generate_events

    if args.append_day is not None:
        if args.gzip:
            from pitstop.errors import ConfigurationError

            raise ConfigurationError(
                "--gzip is for a new log; --append-day writes the day as the log's other days "
                "are written (its _generation.json says which)"
            )
        report = append_day(
            settings,
            day=None if args.append_day == _NEXT_DAY else _date(args.append_day),
            dirty_rate=args.dirty_rate,
            progress=not args.quiet,
        )
        print(
            f"appended {report.lines_written:,} lines ({report.clean_events:,} distinct events, "
            f"{report.faults['late_arrival']:,} late, "
            f"{report.faults['duplicate_delivery']:,} duplicate deliveries) for {report.start} "
            f"in {report.seconds:.1f} s -> {settings.raw_events_dir}"
        )
        return 0
    report = generate_events(
        settings,
        users=args.users,
        days=args.days,
        seed=args.seed,
        start=args.start,
        dirty_rate=args.dirty_rate,
        gzip=args.gzip,
        progress=not args.quiet,
    )
    faults = ", ".join(f"{kind} {count:,}" for kind, count in sorted(report.faults.items()))
    print(
        f"generated {report.lines_written:,} lines ({report.clean_events:,} distinct events) "
        f"for {report.users:,} users, {report.start} .. {report.end}, "
        f"in {report.seconds:.1f} s -> {settings.raw_events_dir}"
    )
    print(f"injected: {faults or 'none'}")
    return 0


def _build(args: argparse.Namespace, settings: Settings) -> int:
    from pitstop.build.progress import DbtProgress
    from pitstop.build.run import build

    # dbt's lines with -v; a progress line by default; nothing with -q (dbt.log has them all)
    progress = DbtProgress() if not (args.quiet or args.verbose) else None
    try:
        report = build(
            settings,
            full_refresh=args.full_refresh,
            run_date=args.date,
            echo=print if args.verbose else progress,
        )
    finally:
        if progress is not None:
            progress.close()
    counts = report.counts
    if args.verbose:
        print()
    print(f"raw lines        {counts.raw_lines:>12,}")
    print(f"clean events     {counts.clean_events:>12,}")
    print(f"duplicates       {counts.duplicate_lines:>12,}")
    print(f"quarantined      {counts.quarantined_lines:>12,}")
    for reason, count in counts.reasons.items():
        print(f"  {reason:<22} {count:>8,}")
    print(f"quarantine: {report.quarantine_path}")
    for table, rows in report.tables.items():
        print(f"feature table {table:<18} {rows:>12,} rows")
    print(f"built in {report.seconds:.1f} s")
    return 0


def _apply(args: argparse.Namespace, settings: Settings) -> int:
    from pitstop.feast_adapter import repo

    started = time.perf_counter()
    repo.apply(settings, echo=None if args.quiet else print)
    print(f"registry {_registry_name(settings)} applied in {time.perf_counter() - started:.1f} s")
    return 0


def _materialize(args: argparse.Namespace, settings: Settings) -> int:
    if args.with_feast:
        from pitstop.feast_adapter import repo

        if args.full or args.batch_rows or args.throttle:
            from pitstop.errors import InvalidInputError

            raise InvalidInputError(
                "--full, --batch-rows and --throttle are pitstop's, not Feast's"
            )
        with _feast_output(quiet=args.quiet):
            report = repo.materialize(settings)
    else:
        from pitstop.materialize import materialize

        report = materialize(
            settings,
            full=args.full,
            batch_rows=args.batch_rows,
            progress=not args.quiet,
            throttle_seconds=args.throttle or 0.0,
        )
    target = (
        redacted(settings.redis_url)
        if settings.online_store == "redis"
        else settings.online_store_path
    )
    for view, count in report.entities.items():
        print(f"  {view:<20} {count:>12,} entities written")
    rate = f", {report.rows_per_second:,.0f} entities/s" if report.entities else ""
    print(
        f"materialized {', '.join(report.views)} up to {report.end:%Y-%m-%d %H:%M:%S} UTC "
        f"into {target} in {report.seconds:.1f} s ({report.method}"
        f"{', full' if report.full and report.method == 'pitstop' else ''}{rate}, "
        f"peak memory {report.peak_memory_bytes / 2**20:,.0f} MiB)"
    )
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from pitstop.feast_adapter import repo

    # Nothing built or applied: say what to run instead of serving 503s. Without an online
    # store the API starts (/ready answers 503 until `pitstop materialize` has run).
    repo.require_registry(settings)
    # The app (and every worker process uvicorn starts) finds the data folder here.
    os.environ.update(settings.environment())
    if args.workers > 1:
        _share_metrics_between_workers()
    import uvicorn

    # No request limit per worker (uvicorn's default): a limit restarts the worker and leaves
    # the port without one for about a second, which is `feast serve`'s p99
    # (docs/architecture.md §6).
    # No access log either: a line per request costs throughput; the API samples its own logs.
    # asyncio's event loop, not uvloop: lookups run inline without yielding, and under uvloop
    # some connections then wait several rounds (32 connections, one entity: the same requests/s,
    # but p99 290-310 ms against 53-60 ms with asyncio; one connection alike).
    uvicorn.run(
        "pitstop.api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=args.workers,
        loop="asyncio",
        access_log=False,
        log_level="warning" if args.quiet else "info",
    )
    return 0


def _share_metrics_between_workers() -> None:
    """prometheus_client's multiprocess mode for ``serve --workers N`` (pitstop.api.metrics):
    a fresh folder every worker writes its counters to, removed when the server stops. A
    PROMETHEUS_MULTIPROC_DIR of the user's own is used as it is (empty it between runs)."""
    import atexit
    import shutil
    import tempfile

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    folder = tempfile.mkdtemp(prefix="pitstop-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)


def _training_set(args: argparse.Namespace, settings: Settings) -> int:
    from pitstop.errors import InvalidInputError
    from pitstop.offline import TimeRange, build_training_set

    window = (args.start, args.end)
    if args.entities is not None and any(window):
        raise InvalidInputError("give either --entities or --start/--end, not both")
    if args.entities is None and not all(window):
        raise InvalidInputError("give --entities FILE, or --start DATE and --end DATE")
    if args.entities is not None and (args.labels or args.every):
        raise InvalidInputError("--every and --labels go with --start/--end (not --entities)")
    entities = (
        args.entities
        if args.entities is not None
        else TimeRange(start=args.start, end=args.end, every=args.every or "1d", labels=args.labels)
    )
    report = build_training_set(
        settings,
        feature_service=args.feature_service,
        entities=entities,
        out=args.out,
        echo=lambda line: print(f"pitstop {args.command}: {line}", file=sys.stderr),
        source_timestamps=args.with_source_timestamps or args.audit,
        progress=not args.quiet,
    )
    print(
        f"training set {report.feature_service}: {report.rows:,} rows x "
        f"{len(report.columns)} columns ({len(report.features)} features) "
        f"in {report.seconds:.1f} s -> {report.path}"
    )
    with_nulls = {name: share for name, share in report.null_share.items() if share > 0}
    if with_nulls:
        print("null share (no value before the row's time, or an undefined ratio):")
        for name, share in with_nulls.items():
            print(f"  {name:<26} {share:>7.1%}")
    complete = len(report.features) - len(with_nulls)
    print(f"{complete} of {len(report.features)} features have no nulls")
    if args.baseline:
        _save_baseline(settings, report.path)
    if args.audit:
        return _print_audit(settings, report.path)
    return 0


def _monitor(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from pitstop.monitoring import EXIT_CODES, compute_status
    from pitstop.monitoring.freshness import run_source_freshness
    from pitstop.monitoring.report import html_page, terminal_table
    from pitstop.progress import stage

    if not args.no_dbt:
        stage("monitor", "dbt source freshness", enabled=not args.quiet)
        run_source_freshness(settings)
    stage("monitor", "freshness, drift and skew of every view", enabled=not args.quiet)
    status = compute_status(settings, now=args.at, with_skew=not args.no_skew)
    if args.html is not None:
        args.html.write_text(html_page(status))
    if args.json:
        print(json.dumps(status.to_json(), indent=2))
    else:
        print(terminal_table(status))
        if args.html is not None:
            print(f"HTML report -> {args.html}")
    return EXIT_CODES[status.status]


def _monitor_baseline(args: argparse.Namespace, settings: Settings) -> int:
    _save_baseline(settings, args.training_set)
    return 0


def _save_baseline(settings: Settings, path: Path) -> None:
    from pitstop.monitoring import create_baseline

    baseline = create_baseline(settings, path)
    covered = sum(len(features) for features in baseline.features.values())
    print(
        f"drift baseline: {covered} features of {len(baseline.features)} views from {path} "
        f"-> {settings.baseline_path}"
    )


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    return _print_audit(settings, args.file)


def _print_audit(settings: Settings, path: Path) -> int:
    from pitstop.offline.audit import audit_training_set

    report = audit_training_set(settings, path)
    for line in report.violations:
        print(line)
    verdict = "FAILED" if report.violations else "passed"
    print(
        f"audit {verdict}: {len(report.violations):,} violation(s) in {report.rows:,} rows x "
        f"{len(report.views)} views ({', '.join(report.views)}) of {report.path}"
    )
    return 1 if report.violations else 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from pitstop.pipeline import run_daily

    report = run_daily(settings, full_refresh=args.full_refresh, run_date=args.date)
    for mart, why in report.build.rebuilt.items():
        print(f"rebuilt {mart} from its inputs: {why}")
    counts = report.build.counts
    print(
        f"build        {report.build.seconds:6.1f} s  {counts.raw_lines:,} raw lines: "
        f"{counts.clean_events:,} clean events, {counts.duplicate_lines:,} duplicates, "
        f"{counts.quarantined_lines:,} quarantined"
    )
    print(f"apply        {report.apply_seconds:6.1f} s  {_registry_name(settings)}")
    # entities per view: a sum over views would count a user once per view
    written = report.materialize.entities
    per_view = ", ".join(
        f"{view} {written[view]:,}" if view in written else view
        for view in report.materialize.views
    )
    print(
        f"materialize  {report.materialize.seconds:6.1f} s  entities written: {per_view} "
        f"-> {settings.online_store}"
    )
    print(f"total        {report.seconds:6.1f} s")
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from pitstop.demo import run_demo

    run_demo(settings)
    return 0


def _registry_name(settings: Settings) -> str:
    """Where the registry is, without a password that may be in its URL."""
    if settings.registry_url is None:
        return str(settings.registry_path)
    from pitstop.feast_adapter.sql_registry import display

    return display(settings.registry_url)


@contextlib.contextmanager
def _feast_output(*, quiet: bool) -> Iterator[None]:
    """Feast prints its progress to stdout; keep it only when asked to."""
    if not quiet:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


# ---- argument parsing --------------------------------------------------------------------------


class _Version(argparse.Action):
    """``--version``: the installed package's version, read only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        import pitstop

        print(f"pitstop {pitstop.__version__}")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"data folder (default: ${DATA_DIR_ENV}, else ./data)",
    )
    common.add_argument("-q", "--quiet", action="store_true", help="no progress output")

    parser = argparse.ArgumentParser(
        prog="pitstop",
        description="Raw event logs to point-in-time-correct features, offline and online.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    generate = commands.add_parser(
        "generate", parents=[common], help="write synthetic raw event logs to the data folder"
    )
    generate.add_argument("--users", type=_positive_int, default=1_000, help="default 1000")
    generate.add_argument("--days", type=_positive_int, default=30, help="default 30")
    generate.add_argument("--seed", type=int, default=7, help="default 7")
    generate.add_argument(
        "--start",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="first day (default: the last day generated is yesterday, UTC)",
    )
    generate.add_argument(
        "--dirty-rate",
        type=float,
        default=0.002,
        metavar="R",
        help="share of lines with a fault (default 0.002)",
    )
    generate.add_argument(
        "--gzip",
        action="store_true",
        help="write part-NNNNN.jsonl.gz (gzip) instead of .jsonl; --append-day keeps to it",
    )
    generate.add_argument(
        "--append-day",
        nargs="?",
        const=_NEXT_DAY,
        default=None,
        metavar="YYYY-MM-DD",
        help="add one arrival partition (default: the day after the newest) to the existing log, "
        "with late events and redeliveries crossing the day boundary; the old partitions stay",
    )
    generate.set_defaults(handler=_generate)

    build = commands.add_parser(
        "build", parents=[common], help="run dbt: raw logs -> tested feature tables (Parquet)"
    )
    build.add_argument(
        "--full-refresh",
        action="store_true",
        help="re-read every raw partition instead of only the new ones",
    )
    build.add_argument(
        "--date",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="build as of this arrival day (later partitions are left for later runs)",
    )
    build.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print dbt's own log lines (by default only in <data>/dbt/logs/dbt.log)",
    )
    build.set_defaults(handler=_build)

    apply = commands.add_parser(
        "apply", parents=[common], help="register the feature tables with Feast (feature_repo/)"
    )
    apply.set_defaults(handler=_apply)

    materialize = commands.add_parser(
        "materialize",
        parents=[common],
        help="load each entity's latest features into the online store",
    )
    materialize.add_argument(
        "--full", action="store_true", help="rewrite every entity, not only the changed ones"
    )
    materialize.add_argument(
        "--batch-rows",
        type=_positive_int,
        metavar="N",
        help="entities per batch (memory grows with it; default "
        "$PITSTOP_MATERIALIZE_BATCH_ROWS, else 100000)",
    )
    materialize.add_argument(
        "--throttle",
        type=float,
        metavar="SECONDS",
        help="pause after each batch, to spare a busy online store",
    )
    materialize.add_argument(
        "--with-feast",
        action="store_true",
        help="use Feast's own `feast materialize` (slower; the benchmarks' baseline)",
    )
    materialize.set_defaults(handler=_materialize)

    serve = commands.add_parser(
        "serve", parents=[common], help="run the online lookup API (uvicorn)"
    )
    serve.add_argument("--host", help="default: $PITSTOP_HOST, else 127.0.0.1")
    serve.add_argument("--port", type=_port, help="default: $PITSTOP_PORT, else 8000")
    serve.add_argument(
        "--workers", type=_positive_int, default=1, help="worker processes (default 1)"
    )
    serve.set_defaults(handler=_serve)

    training_set = commands.add_parser(
        "training-set",
        parents=[common],
        help="point-in-time join of an entity file with a feature service's features",
    )
    training_set.add_argument(
        "--feature-service", required=True, metavar="NAME", help="e.g. churn_v1, ranking_v1"
    )
    training_set.add_argument(
        "--entities",
        type=Path,
        metavar="FILE",
        help="Parquet or CSV: the join keys, event_timestamp, any labels (they pass through)",
    )
    training_set.add_argument(
        "--start",
        metavar="DATE",
        help="instead of --entities: every entity with a feature row in [start, end) ...",
    )
    training_set.add_argument(
        "--end", metavar="DATE", help="... at every --every step from start (UTC) to end"
    )
    training_set.add_argument(
        "--every", metavar="STEP", help="spine step with --start/--end: Nd or Nh (default 1d)"
    )
    training_set.add_argument(
        "--labels",
        metavar="TABLE",
        help="with --start/--end: left-join <data>/features/TABLE.parquet (e.g. churn_labels) "
        "on the join key and event_timestamp",
    )
    training_set.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="Parquet file to write"
    )
    training_set.add_argument(
        "--with-source-timestamps",
        action="store_true",
        help="add <view>__event_timestamp: the matched feature row's time, for `pitstop audit`",
    )
    training_set.add_argument(
        "--audit",
        action="store_true",
        help="with source timestamps, then audit the file (exit 1 on any violation)",
    )
    training_set.add_argument(
        "--baseline",
        action="store_true",
        help="also save the training set as the drift baseline of `pitstop monitor`",
    )
    training_set.set_defaults(handler=_training_set)

    monitor = commands.add_parser(
        "monitor",
        parents=[common],
        help="freshness, drift, skew: a table, --json or --html; exit 0 ok, 1 warn, 2 error",
    )
    monitor.add_argument("--json", action="store_true", help="print the status as JSON")
    monitor.add_argument("--html", type=Path, metavar="FILE", help="write the HTML report here")
    monitor.add_argument(
        "--at",
        type=_instant,
        metavar="TIME",
        help="measure as of this UTC time (default now), e.g. to replay a past day",
    )
    monitor.add_argument(
        "--no-dbt", action="store_true", help="skip `dbt source freshness` (use its last result)"
    )
    monitor.add_argument(
        "--no-skew", action="store_true", help="skip the offline recomputation of serving logs"
    )
    monitor.set_defaults(handler=_monitor)
    monitor_commands = monitor.add_subparsers(dest="monitor_command", metavar="baseline")
    baseline = monitor_commands.add_parser(
        "baseline",
        parents=[common],
        help="profile a training set (Parquet) as the drift baseline",
    )
    baseline.add_argument("training_set", type=Path, metavar="TRAINING_SET")
    baseline.set_defaults(handler=_monitor_baseline)

    audit = commands.add_parser(
        "audit",
        parents=[common],
        help="leakage audit of a training set written with --with-source-timestamps",
    )
    audit.add_argument("file", type=Path, metavar="FILE", help="the training set (Parquet)")
    audit.set_defaults(handler=_audit)

    run = commands.add_parser(
        "run", parents=[common], help="the daily job: build, apply, materialize"
    )
    run.add_argument("--full-refresh", action="store_true", help="rebuild from every raw partition")
    run.add_argument(
        "--date",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="the arrival day to run: its new partition plus a lookback, as of that day "
        "(later partitions wait for their own run)",
    )
    run.set_defaults(handler=_run)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="everything on a small generated log, then a lookup over HTTP and a training set",
    )
    demo.set_defaults(handler=_demo)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"not a port number: {value}")
    return value


def _instant(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time (ISO 8601): {text!r}") from None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


if __name__ == "__main__":
    sys.exit(main())
