"""The ``pitstop`` command line.

Only the standard library is imported at module level, so ``pitstop --help`` answers at once;
each command imports what it needs (dbt, DuckDB, Feast) when it runs. Every
:class:`~pitstop.errors.PitstopError` becomes one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence

from pitstop.errors import PitstopError
from pitstop.settings import DATA_DIR_ENV, Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    settings = Settings.from_env(args.data_dir)
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except PitstopError as error:
        print(f"pitstop {args.command}: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"pitstop {args.command}: interrupted", file=sys.stderr)
        return 130


# ---- commands --------------------------------------------------------------------------------


def _generate(args: argparse.Namespace, settings: Settings) -> int:
    from pitstop.generator import generate_events

    report = generate_events(
        settings,
        users=args.users,
        days=args.days,
        seed=args.seed,
        start=args.start,
        dirty_rate=args.dirty_rate,
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
    from pitstop.build import build

    report = build(settings, full_refresh=args.full_refresh, echo=None if args.quiet else print)
    counts = report.counts
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


# ---- argument parsing --------------------------------------------------------------------------


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
    generate.set_defaults(handler=_generate)

    build = commands.add_parser(
        "build", parents=[common], help="run dbt: raw logs -> tested feature tables (Parquet)"
    )
    build.add_argument(
        "--full-refresh",
        action="store_true",
        help="re-read every raw partition instead of only the new ones",
    )
    build.set_defaults(handler=_build)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


if __name__ == "__main__":
    sys.exit(main())
