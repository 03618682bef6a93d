"""The raw log generator against the input contract (docs/architecture.md §2), on real files.

The validator here is written from the contract, independently of the generator: it parses each
line with ``json`` and ``datetime.fromisoformat`` and names the rule a line breaks. The counts
the generator reports must match what the files hold, line for line.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pitstop import Settings
from pitstop.errors import ConfigurationError
from pitstop.generator import GenerationReport, generate_events

START = date(2026, 1, 1)
EVENT_TYPES = {
    "page_view",
    "search",
    "add_to_cart",
    "purchase",
    "refund",
    "login",
    "support_ticket",
}
ITEM_TYPES = {"page_view", "add_to_cart", "purchase", "refund"}
PRICED_TYPES = {"purchase", "refund"}
INVALID_KINDS = (
    "malformed_json",
    "missing_field",
    "mistyped_field",
    "unknown_event_type",
    "negative_price",
    "invalid_timestamp",
)
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?")
PARTITION = re.compile(r"date=(\d{4}-\d{2}-\d{2})")


# ---- an independent validator of the input contract ----------------------------------------
def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_ts(text: str) -> datetime | None:
    """The UTC instant of an RFC 3339 timestamp (no offset means UTC), or None if invalid."""
    if not RFC3339.fullmatch(text):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def rule_broken(line: str) -> str | None:
    """The first rule of docs/architecture.md §2 that ``line`` breaks, None if it is valid."""
    try:
        event = json.loads(line)
    except ValueError:
        return "malformed_json"
    if not isinstance(event, dict):
        return "malformed_json"
    if any(key not in event for key in ("event_id", "event_type", "user_id", "ts")):
        return "missing_field"
    expected_types: dict[str, Any] = {
        "event_id": lambda v: isinstance(v, str),
        "event_type": lambda v: isinstance(v, str),
        "user_id": _is_int,
        "ts": lambda v: isinstance(v, str),
        "session_id": lambda v: isinstance(v, str),
        "item_id": _is_int,
        "price": _is_number,
        "quantity": _is_int,
        "device": lambda v: isinstance(v, str),
        "country": lambda v: isinstance(v, str),
    }
    for key, check in expected_types.items():
        if key in event and not check(event[key]):
            return "mistyped_field"
    if event["event_type"] not in EVENT_TYPES:
        return "unknown_event_type"
    if event["event_type"] in ITEM_TYPES and "item_id" not in event:
        return "missing_field"
    if event["event_type"] in PRICED_TYPES and "price" not in event:
        return "missing_field"
    if "price" in event and event["price"] < 0:
        return "negative_price"
    if event["user_id"] <= 0 or event.get("quantity", 1) < 1:
        return "out_of_range"
    if parse_ts(event["ts"]) is None:
        return "invalid_timestamp"
    return None


@dataclass
class LogContents:
    """What a reader of the files finds, counted the way the pipeline would."""

    lines: int = 0
    invalid: Counter[str] = field(default_factory=Counter)
    copies: dict[str, list[tuple[date, str]]] = field(default_factory=lambda: defaultdict(list))
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return sum(len(copies) - 1 for copies in self.copies.values())

    def event_day(self, event_id: str) -> date:
        ts = parse_ts(self.events[event_id]["ts"])
        assert ts is not None
        return ts.date()

    def first_arrival(self, event_id: str) -> date:
        return min(day for day, _ in self.copies[event_id])


def read_log(raw_events_dir: Path) -> LogContents:
    contents = LogContents()
    for path in sorted(raw_events_dir.glob("date=*/*.jsonl")):
        match = PARTITION.fullmatch(path.parent.name)
        assert match, path
        partition = date.fromisoformat(match.group(1))
        contents.files.append(path)
        data = path.read_bytes()
        assert data == b"" or data.endswith(b"\n"), path
        for line in data.decode("utf-8").split("\n")[:-1]:
            assert "\r" not in line and line.strip(), f"blank or CRLF line in {path}"
            contents.lines += 1
            reason = rule_broken(line)
            if reason is not None:
                contents.invalid[reason] += 1
                continue
            event = json.loads(line)
            contents.copies[event["event_id"]].append((partition, line))
            contents.events[event["event_id"]] = event
    return contents


def generate(data_dir: Path, **overrides: Any) -> GenerationReport:
    arguments: dict[str, Any] = {
        "users": 300,
        "days": 12,
        "seed": 7,
        "start": START,
        "dirty_rate": 0.05,
        "progress": False,
    }
    arguments.update(overrides)
    return generate_events(Settings.from_env(data_dir), **arguments)


def digest(raw_events_dir: Path) -> dict[str, str]:
    return {
        str(path.relative_to(raw_events_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(raw_events_dir.rglob("*.jsonl"))
    }


@pytest.fixture(scope="module")
def dirty_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationReport, LogContents]:
    """40 days of 2,000 users at a dirty rate of 5%: every fault kind shows up many times."""
    data_dir = tmp_path_factory.mktemp("dirty")
    report = generate(data_dir, users=2_000, days=40, dirty_rate=0.05)
    return report, read_log(Settings.from_env(data_dir).raw_events_dir)


# ---- determinism and replacing ----------------------------------------------------------------
def test_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    generate(tmp_path / "a")
    generate(tmp_path / "b")
    generate(tmp_path / "c", seed=8)
    a = digest(tmp_path / "a" / "raw" / "events")
    assert a and a == digest(tmp_path / "b" / "raw" / "events")
    c = digest(tmp_path / "c" / "raw" / "events")
    assert a.keys() == c.keys()
    assert all(a[name] != c[name] for name in a)


def test_generating_again_replaces_the_log(tmp_path: Path) -> None:
    raw = Settings.from_env(tmp_path).raw_events_dir
    stale = raw / "date=2020-01-01" / "part-00000.jsonl"
    stale.parent.mkdir(parents=True)
    stale.write_text('{"stale": true}\n')
    (raw / "README.txt").write_text("not a partition: left alone\n")

    first = generate(tmp_path)
    before = digest(raw)
    second = generate(tmp_path)
    assert digest(raw) == before
    assert second.lines_written == first.lines_written == read_log(raw).lines
    assert not stale.parent.exists()
    assert (raw / "README.txt").exists()
    assert not any(path.name.startswith(".") for path in raw.parent.iterdir())


def test_large_days_are_written_in_several_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of users and the line limit per part, scaled down so a small log needs them."""
    monkeypatch.setattr("pitstop.generator.run.USERS_PER_BLOCK", 120)
    monkeypatch.setattr("pitstop.generator.writer.LINES_PER_PART", 200)
    report = generate(tmp_path, users=300, days=6)
    raw = Settings.from_env(tmp_path).raw_events_dir
    log = read_log(raw)
    assert report.lines_written == log.lines
    assert report.clean_events == len(log.events)
    assert {kind: log.invalid[kind] for kind in INVALID_KINDS} == {
        kind: report.faults[kind] for kind in INVALID_KINDS
    }
    parts = Counter(path.parent.name for path in log.files)
    assert len(parts) == 6 and min(parts.values()) >= 3
    assert all(len(path.read_bytes().splitlines()) <= 200 for path in log.files)


# ---- the contract and the report ----------------------------------------------------------------
def test_every_line_is_valid_or_a_declared_fault(
    dirty_log: tuple[GenerationReport, LogContents],
) -> None:
    report, log = dirty_log
    assert "out_of_range" not in log.invalid
    assert {kind: log.invalid[kind] for kind in INVALID_KINDS} == {
        kind: report.faults[kind] for kind in INVALID_KINDS
    }
    assert all(report.faults[kind] > 0 for kind in report.faults)
    assert report.invalid_lines == sum(log.invalid.values())
    assert report.clean_events == len(log.events)
    assert report.faults["duplicate_delivery"] == log.duplicates
    assert report.lines_written == log.lines
    assert report.lines_written == (
        report.clean_events + report.faults["duplicate_delivery"] + report.invalid_lines
    )
    assert sorted(report.files) == log.files


def test_valid_lines_follow_the_field_rules(
    dirty_log: tuple[GenerationReport, LogContents],
) -> None:
    report, log = dirty_log
    for event_id, event in log.events.items():
        kind = event["event_type"]
        assert ("item_id" in event) == (kind in ITEM_TYPES), event
        assert ("price" in event) == (kind in PRICED_TYPES), event
        assert "quantity" not in event or kind in PRICED_TYPES, event
        assert 1 <= event.get("item_id", 1) <= report.items
        assert event["user_id"] <= report.users
        assert report.start <= log.event_day(event_id) <= report.end
        assert log.event_day(event_id) <= log.first_arrival(event_id) <= report.end
    for copies in log.copies.values():
        assert len({line for _, line in copies}) == 1, "a duplicate is not an exact copy"


def test_timestamps_come_in_several_offsets(
    dirty_log: tuple[GenerationReport, LogContents],
) -> None:
    report, log = dirty_log
    offsets: Counter[str] = Counter()
    for event in log.events.values():
        parsed = datetime.fromisoformat(event["ts"])
        if parsed.tzinfo is None:
            offsets["none"] += 1
        elif parsed.utcoffset() != timedelta(0):
            offsets["other"] += 1
    assert offsets["other"] == report.faults["mixed_offset"]
    assert offsets["none"] == report.faults["no_offset"]
    assert 0.03 < offsets["other"] / report.clean_events < 0.08
    assert 0.01 < offsets["none"] / report.clean_events < 0.03
    suffixes = {_offset_text(event["ts"]) for event in log.events.values()}
    assert {"Z", "+00:00", "+05:30", "-05:00", ""} <= suffixes


def _offset_text(ts: str) -> str:
    match = RFC3339.fullmatch(ts)
    assert match is not None
    return match.group(2) or ""


def test_late_and_duplicate_deliveries(dirty_log: tuple[GenerationReport, LogContents]) -> None:
    report, log = dirty_log
    late = [e for e in log.events if log.first_arrival(e) > log.event_day(e)]
    assert len(late) == report.faults["late_arrival"] > 0
    assert all((log.first_arrival(e) - log.event_day(e)).days <= 5 for e in late)
    repeated = [copies for copies in log.copies.values() if len(copies) > 1]
    assert any(len({day for day, _ in copies}) > 1 for copies in repeated), "no later copy"
    assert any(len({day for day, _ in copies}) == 1 for copies in repeated), "no same-day copy"


@pytest.mark.parametrize("dirty_rate", [0.0, 0.05, 0.2])
def test_dirty_rate_is_honoured(tmp_path: Path, dirty_rate: float) -> None:
    report = generate(tmp_path, users=500, days=20, dirty_rate=dirty_rate)
    dirty = (
        report.invalid_lines + report.faults["duplicate_delivery"] + report.faults["late_arrival"]
    )
    share = dirty / report.lines_written
    assert abs(share - dirty_rate) <= 0.15 * dirty_rate + 0.002
    if dirty_rate == 0:
        log = read_log(Settings.from_env(tmp_path).raw_events_dir)
        assert not log.invalid and log.duplicates == 0
        assert report.clean_events == report.lines_written


# ---- behaviour that the features must be able to find ---------------------------------------
def test_volume_and_default_dates(tmp_path: Path) -> None:
    report = generate(tmp_path, users=1_000, days=14, start=None, dirty_rate=0.002)
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    assert report.end in {yesterday, yesterday + timedelta(days=1)}  # the test may cross midnight
    assert report.start == report.end - timedelta(days=13)
    names = sorted(path.parent.name for path in report.files)
    assert names[0] == f"date={report.start}" and names[-1] == f"date={report.end}"
    assert len(names) == 14
    assert 1.5 <= report.lines_written / (1_000 * 14) <= 2.8


def test_users_arrive_over_the_period_and_some_churn(
    dirty_log: tuple[GenerationReport, LogContents],
) -> None:
    report, log = dirty_log
    days_by_user: defaultdict[int, list[date]] = defaultdict(list)
    for event_id, event in log.events.items():
        days_by_user[event["user_id"]].append(log.event_day(event_id))
    first_seen = {user: min(days) for user, days in days_by_user.items()}
    newcomers = [u for u, day in first_seen.items() if day >= report.start + timedelta(days=10)]
    assert len(newcomers) > 0.1 * len(first_seen)
    # User ids grow with the signup: the newcomers have the higher ids.
    assert sum(newcomers) / len(newcomers) > sum(first_seen) / len(first_seen)

    quiet_from = report.end - timedelta(days=9)
    halfway = report.start + timedelta(days=20)
    churned = [
        user
        for user, days in days_by_user.items()
        if sum(day < halfway for day in days) >= 20 and max(days) < quiet_from
    ]
    assert len(churned) >= 0.01 * len(days_by_user)


def test_heavy_and_light_users_popular_and_long_tail_items(
    dirty_log: tuple[GenerationReport, LogContents],
) -> None:
    report, log = dirty_log
    per_user = sorted(Counter(e["user_id"] for e in log.events.values()).values(), reverse=True)
    top_tenth = per_user[: len(per_user) // 10]
    assert sum(top_tenth) > 0.3 * sum(per_user)
    assert per_user[-1] < 5 < per_user[0] / 20

    views = Counter(e["item_id"] for e in log.events.values() if e["event_type"] == "page_view")
    ranked = sorted(views.values(), reverse=True)
    assert sum(ranked[: report.items // 100]) > 0.1 * sum(ranked)
    assert len(views) > 0.5 * report.items  # the long tail is viewed too


def test_sessions_follow_the_funnel(dirty_log: tuple[GenerationReport, LogContents]) -> None:
    _, log = dirty_log
    by_session: defaultdict[str, list[tuple[datetime, dict[str, Any]]]] = defaultdict(list)
    purchases: set[tuple[int, int]] = set()
    refunds = []
    for event in log.events.values():
        ts = parse_ts(event["ts"])
        assert ts is not None
        if "session_id" in event:
            by_session[event["session_id"]].append((ts, event))
        if event["event_type"] == "purchase":
            purchases.add((event["user_id"], event["item_id"]))
        if event["event_type"] == "refund":
            refunds.append((event["user_id"], event["item_id"]))

    crossing_midnight = 0
    for events in by_session.values():
        events.sort(key=lambda pair: pair[0])
        assert len({e["user_id"] for _, e in events}) == 1
        assert events[-1][0] - events[0][0] < timedelta(hours=4)
        crossing_midnight += events[0][0].date() != events[-1][0].date()
    assert crossing_midnight > 0

    carted_then_bought = viewed_then_carted = carts = buys = 0
    for events in by_session.values():
        viewed: set[int] = set()
        carted: set[int] = set()
        for _, event in events:
            if event["event_type"] == "page_view":
                viewed.add(event["item_id"])
            if event["event_type"] == "add_to_cart":
                carts += 1
                viewed_then_carted += event["item_id"] in viewed
                carted.add(event["item_id"])
            if event["event_type"] == "purchase":
                buys += 1
                carted_then_bought += event["item_id"] in carted
    # A step can lose its predecessor to an invalid line: 5% of lines here, and about a fifth of
    # the purchases, since negative prices can only hit purchases and refunds.
    assert viewed_then_carted > 0.85 * carts > 0
    assert carted_then_bought > 0.85 * buys > 0
    assert refunds and sum(r in purchases for r in refunds) > 0.7 * len(refunds)
    kinds = Counter(e["event_type"] for e in log.events.values())
    assert kinds.keys() == EVENT_TYPES


# ---- arguments ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides",
    [
        {"users": 0},
        {"users": -5},
        {"days": 0},
        {"days": 2.5},
        {"seed": -1},
        {"dirty_rate": -0.1},
        {"dirty_rate": 0.5},
        {"dirty_rate": float("nan")},
        {"start": "2026-01-01"},
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, overrides: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as refused:
        generate(tmp_path, **overrides)
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "raw").exists()


# ---- appending a day ---------------------------------------------------------------------------
def test_append_day_adds_one_partition_with_late_events_and_redeliveries(tmp_path: Path) -> None:
    from pitstop.generator import append_day

    settings = Settings.from_env(tmp_path)
    generate_events(settings, users=300, days=6, seed=3, start=START, progress=False)
    before = {
        path.relative_to(tmp_path): path.read_bytes()
        for path in settings.raw_events_dir.glob("date=*/*.jsonl")
    }
    report = append_day(settings, late_share=0.05, redelivery_share=0.02, progress=False)
    day = START + timedelta(days=6)
    assert (report.start, report.end) == (day, day)

    after = {
        path.relative_to(tmp_path): path.read_bytes()
        for path in settings.raw_events_dir.glob("date=*/*.jsonl")
    }
    assert {name: after[name] for name in before} == before  # old partitions untouched
    new_lines = [
        line
        for name, content in after.items()
        if name not in before
        for line in content.decode().splitlines()
    ]
    assert {name.parent.name for name in after if name not in before} == {f"date={day}"}
    assert len(new_lines) == report.lines_written

    old_lines = {line for content in before.values() for line in content.decode().splitlines()}
    redelivered = [line for line in new_lines if line in old_lines]
    assert 0 < len(redelivered) <= report.faults["duplicate_delivery"]  # + same-day copies
    event_days = [
        parsed.date()
        for line in new_lines
        if (parsed := _event_day(line)) is not None and line not in old_lines
    ]
    assert sum(event < day for event in event_days) >= report.faults["late_arrival"] > 0
    assert all(event <= day for event in event_days)
    old_ids = {json.loads(line).get("event_id") for line in old_lines if line.startswith("{")}
    fresh = [line for line in new_lines if line not in old_lines and line.startswith('{"')]
    assert not {json.loads(line).get("event_id") for line in fresh} & old_ids

    with pytest.raises(ConfigurationError, match="append a later day"):
        append_day(settings, day=day, progress=False)


def _event_day(line: str) -> datetime | None:
    try:
        document = json.loads(line)
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("ts"), str):
        return None
    return parse_ts(document["ts"])


def test_gzip_writes_the_same_lines_compressed_and_append_day_keeps_to_it(
    tmp_path: Path,
) -> None:
    from pitstop.build.raw_files import raw_file_paths, read_raw_bytes
    from pitstop.generator import append_day

    plain, zipped = tmp_path / "plain", tmp_path / "gzip"
    for data_dir, gzip in ((plain, False), (zipped, True)):
        generate(data_dir, days=3)
        generate(data_dir, days=3, gzip=gzip)  # a rerun replaces the log, whichever kind
        append_day(Settings.from_env(data_dir), progress=False)

    def contents(data_dir: Path) -> dict[str, bytes]:
        raw = Settings.from_env(data_dir).raw_events_dir
        return {
            str(path.relative_to(raw)): read_raw_bytes(path)
            for folder in sorted(raw.glob("date=*"))
            for path in raw_file_paths(folder)
        }

    plain_files, zipped_files = contents(plain), contents(zipped)
    assert len(plain_files) >= 4 and all(name.endswith(".jsonl") for name in plain_files)
    assert {name + ".gz": data for name, data in plain_files.items()} == zipped_files
    sizes = [sum(p.stat().st_size for p in (d / "raw").rglob("part-*")) for d in (plain, zipped)]
    assert sizes[1] < sizes[0] / 3
