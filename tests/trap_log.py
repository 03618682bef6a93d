"""A hand-made raw log with a known answer for every point-in-time trap.

Arrival partitions run from 2026-03-01 to 2026-04-20, so the data covers snapshots up to
2026-04-21 00:00 UTC. 2026-03-02 is a Monday. Users:

1  events exactly at midnight and one millisecond before the next; unseen before 03-11
2  one page view on 03-01, then silent: the window edges, and a silent user's zeros
3  a late event: ts 03-05, arrived in the 03-09 partition
4  one purchase delivered three times (twice on 03-12, again on 03-14)
5  UTC offsets that cross midnight both ways, and a timestamp without an offset
6  a purchase then a refund
7  a session crossing midnight, plus a second session
9  active only near the end: churn label not yet known
10 active 03-01 and 03-20: not churned at 03-02
11 one page view without an item (a home page) on 03-03: a page view of the user, of no item
Items 100..102 follow the page views, carts and purchases above.
"""

from __future__ import annotations

import json
from typing import Any

COVERAGE_END = "2026-04-21T00:00:00Z"


def _line(event_id: str, event_type: str, user_id: Any, ts: str, **fields: Any) -> str:
    doc = {"event_id": event_id, "event_type": event_type, "user_id": user_id, "ts": ts, **fields}
    return json.dumps(doc, separators=(",", ":"))


P4 = _line("p4", "purchase", 4, "2026-03-12T10:00:00Z", item_id=101, price=12.5, quantity=2)

# Lines that break a rule, each with the reason the quarantine must give.
FAULTS: list[tuple[str, str]] = [
    ('{"event_id":"f1","event_type":', "malformed_json"),
    ("", "malformed_json"),
    ("[1,2,3]", "not_an_object"),
    ('{"event_type":"login","user_id":1,"ts":"2026-03-05T10:00:00Z"}', "missing_event_id"),
    (
        '{"event_id":5,"event_type":"login","user_id":1,"ts":"2026-03-05T10:00:00Z"}',
        "invalid_event_id",
    ),
    ('{"event_id":"f2","user_id":1,"ts":"2026-03-05T10:00:00Z"}', "missing_event_type"),
    (_line("f3", "teleport", 1, "2026-03-05T10:00:00Z"), "unknown_event_type"),
    ('{"event_id":"f4","event_type":"login","ts":"2026-03-05T10:00:00Z"}', "missing_user_id"),
    (_line("f5", "login", None, "2026-03-05T10:00:00Z"), "missing_user_id"),
    (_line("f6", "login", "abc", "2026-03-05T10:00:00Z"), "invalid_user_id"),
    (_line("f7", "login", -5, "2026-03-05T10:00:00Z"), "invalid_user_id"),
    (_line("f8", "login", 1.5, "2026-03-05T10:00:00Z"), "invalid_user_id"),
    ('{"event_id":"f9","event_type":"login","user_id":1}', "missing_ts"),
    (_line("f10", "login", 1, "yesterday"), "invalid_ts"),
    (_line("f11", "login", 1, "2026-02-30T10:00:00Z"), "invalid_ts"),
    # issue 20: times a file arriving on 2026-03-05 cannot hold (before 1970, or more than a
    # day after its arrival day)
    (_line("f21", "login", 1, "0001-01-01T00:00:00Z"), "ts_out_of_range"),
    (_line("f22", "login", 1, "9999-12-31T00:00:00Z"), "ts_out_of_range"),
    (_line("f23", "login", 1, "2026-03-07T00:00:00Z"), "ts_out_of_range"),
    (_line("f12", "add_to_cart", 1, "2026-03-05T10:00:00Z"), "missing_item_id"),
    (_line("f13", "page_view", 1, "2026-03-05T10:00:00Z", item_id="x"), "invalid_item_id"),
    (_line("f14", "purchase", 1, "2026-03-05T10:00:00Z", item_id=100), "missing_price"),
    (
        _line("f15", "purchase", 1, "2026-03-05T10:00:00Z", item_id=100, price="9.99"),
        "invalid_price",
    ),
    (_line("f16", "purchase", 1, "2026-03-05T10:00:00Z", item_id=100, price=-1), "negative_price"),
    (
        _line("f17", "refund", 1, "2026-03-05T10:00:00Z", item_id=100, price=1, quantity=0),
        "invalid_quantity",
    ),
    (_line("f18", "login", 1, "2026-03-05T10:00:00Z", session_id=5), "invalid_session_id"),
    (_line("f19", "login", 1, "2026-03-05T10:00:00Z", device=1), "invalid_device"),
    (_line("f20", "login", 1, "2026-03-05T10:00:00Z", country=["x"]), "invalid_country"),
]

# A file with a byte sequence that is not UTF-8 on line 2 and no final newline.
NOT_UTF8_FILE = (
    _line("u1", "login", 9, "2026-03-06T10:00:00Z").encode()
    + b"\n\xff\xfe not text\n"
    + _line("u2", "login", 9, "2026-03-06T11:00:00Z").encode()
)

DUPLICATE_DELIVERIES = 2


def partitions() -> dict[str, list[str]]:
    """Clean and duplicated lines by arrival day (faults are written by write_faults)."""
    return {
        "2026-03-01": [
            _line("u2a", "page_view", 2, "2026-03-01T12:00:00Z", session_id="s2", item_id=100),
            _line("u10a", "page_view", 10, "2026-03-01T09:00:00Z", item_id=100),
            _line("u10b", "add_to_cart", 10, "2026-03-01T09:01:00Z", item_id=100),
            _line("u10c", "purchase", 10, "2026-03-01T09:02:00Z", item_id=100, price=5),
        ],
        "2026-03-03": [
            _line("u7a", "login", 7, "2026-03-03T23:50:00Z", session_id="s7"),
            _line("u11a", "page_view", 11, "2026-03-03T15:00:00Z"),  # a page without an item
        ],
        "2026-03-04": [
            _line("u3a", "login", 3, "2026-03-04T08:00:00Z"),
            _line("u7b", "search", 7, "2026-03-04T00:10:00Z", session_id="s7"),
            _line("u7c", "login", 7, "2026-03-04T12:00:00Z", session_id="s8"),
        ],
        "2026-03-09": [
            _line("u3b", "login", 3, "2026-03-05T10:00:00Z"),  # late: four days after its day
        ],
        "2026-03-10": [
            _line("u1a", "login", 1, "2026-03-10T00:00:00Z"),
            _line("u1b", "login", 1, "2026-03-10T23:59:59.999Z"),
        ],
        "2026-03-12": [P4, P4],
        "2026-03-14": [P4],
        "2026-03-16": [
            _line("u5a", "login", 5, "2026-03-15T23:30:00-02:00"),  # 03-16 01:30 UTC
            _line("u5b", "login", 5, "2026-03-16T00:30:00+02:00"),  # 03-15 22:30 UTC
        ],
        "2026-03-18": [
            _line("u5c", "login", 5, "2026-03-18T23:59:00"),  # no offset: UTC
        ],
        "2026-03-20": [
            _line("u6a", "purchase", 6, "2026-03-20T10:00:00Z", item_id=102, price=10, quantity=2),
            _line("u10d", "login", 10, "2026-03-20T10:00:00Z"),
        ],
        "2026-03-21": [
            _line("u6b", "refund", 6, "2026-03-21T09:00:00Z", item_id=102, price=10, quantity=1),
        ],
        "2026-04-15": [
            _line("u9a", "login", 9, "2026-04-15T10:00:00Z"),
        ],
        "2026-04-20": [],
    }
