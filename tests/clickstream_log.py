"""A seeded e-commerce clickstream, written as a shop's tracker writes it, with its true events.

The shape of the public clickstream of issue 16: home and catalog pages (page views without an
item), product pages (page views with one), add to cart, six checkout steps that are event
types of their own, and the payment as a `purchase` that mostly carries no price; no session
ids. What a real feed adds: events up to two days late (an app offline), a few UTC offsets,
fields of its own (`page`, `cart_size`), exact redeliveries, and a small share of lines that
break a rule, each with the reason the quarantine must give.

:func:`clickstream` returns the raw lines by arrival day together with what they mean: the
distinct valid events (what the features must add up), the faulty lines and their reasons, and
how many lines are redeliveries. A test computes its expected features from ``events``, never
from the pipeline's output.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

START = dt.date(2026, 9, 1)
DAYS = 61  # arrival partitions 2026-09-01 .. 2026-10-31
USERS = 300
ITEMS = 120

CHECKOUT_STEPS = (
    "checkout_start",
    "checkout_address",
    "checkout_shipping",
    "checkout_billing",
    "checkout_review",
    "checkout_confirm",
)

# The vocabulary this log needs, as `vars.event_types` of transformations/dbt_project.yml.
# The log's fields of its own (vars.event_fields): the page a view was of, and how many items
# the paid cart held.
FIELDS = "  event_fields: {page: string, cart_size: number}\n"
VOCABULARY = (
    "  event_types:\n"
    "    page_view: {item_id: optional, page: optional}   # home and catalog pages carry no item\n"
    "    add_to_cart: {item_id: required}\n"
    + "".join(f"    {step}: {{}}\n" for step in CHECKOUT_STEPS)
    + "    purchase: {item_id: optional, price: optional, cart_size: required}"
    + "   # the payment, mostly unpriced\n"
)

LINES_PER_FILE = 1_500  # files roll by size, as log shippers do
P_LATE = 0.03  # an event that arrives one or two days after its day
P_REDELIVERED = 0.01
P_FAULT = 0.02
P_OFFSET = 0.1  # a timestamp written with a +02:00 offset instead of Z
P_PRICED = 0.25  # a purchase whose price the tracker knows


@dataclass(frozen=True)
class Event:
    """One distinct valid event, as the features must see it (``ts`` in UTC)."""

    event_id: str
    event_type: str
    user_id: int
    ts: dt.datetime
    item_id: int | None = None
    price: float | None = None
    quantity: int | None = None
    page: str | None = None
    cart_size: int | None = None

    def line(self, offset: bool) -> str:
        doc: dict[str, Any] = {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "user_id": self.user_id,
            "ts": _rfc3339(self.ts, offset),
        }
        for name in ("item_id", "price", "quantity", "page", "cart_size"):
            value = getattr(self, name)
            if value is not None:
                doc[name] = value
        return json.dumps(doc, separators=(",", ":"))


@dataclass
class ClickLog:
    """The raw lines by arrival day, and what they mean."""

    partitions: dict[dt.date, list[str]]
    events: list[Event]
    faults: list[tuple[str, str]]  # (raw line, the quarantine's rejection_reason)
    redeliveries: int
    late: int = 0
    by_type: dict[str, int] = field(default_factory=dict)

    @property
    def raw_lines(self) -> int:
        return sum(len(lines) for lines in self.partitions.values())

    @property
    def last_day(self) -> dt.date:
        return max(self.partitions)

    def files(self) -> Iterator[tuple[str, str, list[str]]]:
        """(arrival folder, file name, lines): each day's lines rolled into files."""
        for day, lines in sorted(self.partitions.items()):
            for start in range(0, len(lines), LINES_PER_FILE):
                part = f"part-{start // LINES_PER_FILE:05d}"
                yield f"date={day.isoformat()}", part, lines[start : start + LINES_PER_FILE]


def _rfc3339(ts: dt.datetime, offset: bool) -> str:
    if offset:
        local = ts.astimezone(dt.timezone(dt.timedelta(hours=2)))
        return local.isoformat(timespec="milliseconds")
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _sessions(rng: random.Random, user: int, ids: Iterator[int]) -> Iterator[Event]:
    """One user's visits: a first day, a visit rate, and a day after which some never return."""
    first = rng.randrange(DAYS - 5)
    rate = rng.uniform(0.03, 0.4)
    leaves = rng.randrange(first, DAYS + 30) if rng.random() < 0.4 else DAYS
    for day in range(first, min(leaves, DAYS)):
        if day != first and rng.random() >= rate:
            continue
        at = dt.datetime.combine(START + dt.timedelta(days=day), dt.time(), dt.timezone.utc)
        at += dt.timedelta(seconds=rng.randrange(86_400))
        yield from _visit(rng, user, at, ids)


def _visit(rng: random.Random, user: int, at: dt.datetime, ids: Iterator[int]) -> Iterator[Event]:
    """Home, catalog and product pages, maybe a cart, maybe the checkout, maybe a payment."""

    def event(event_type: str, **fields: Any) -> Event:
        nonlocal at
        at += dt.timedelta(seconds=rng.randrange(5, 180), milliseconds=rng.randrange(1000))
        return Event(f"e{next(ids):07d}", event_type, user, at, **fields)

    if rng.random() < 0.8:
        yield event("page_view", page="/")
    cart: list[int] = []
    for _ in range(rng.randrange(1, 5)):
        yield event("page_view", page=f"/c/{rng.choice(['shoes', 'bags', 'hats', 'sale'])}")
        for _ in range(rng.randrange(0, 3)):
            item = min(int(rng.paretovariate(1.2)), ITEMS)
            yield event("page_view", page=f"/p/{item}", item_id=item)
            if rng.random() < 0.3:
                cart.append(item)
                yield event("add_to_cart", item_id=item)
    if not cart or rng.random() < 0.4:
        return
    for step in CHECKOUT_STEPS:
        yield event(step)
        if rng.random() < 0.1:
            return  # dropped out of the checkout
    # The payment: the cart's item when it holds one, a price when the tracker knows it.
    item = cart[0] if len(set(cart)) == 1 else None
    if rng.random() < P_PRICED:
        quantity = len(cart) if rng.random() < 0.5 else None
        price = rng.randrange(199, 25_000) / 100
        yield event("purchase", item_id=item, price=price, quantity=quantity, cart_size=len(cart))
    else:
        yield event("purchase", item_id=item, cart_size=len(cart))


def _fault(rng: random.Random, n: int, ts: dt.datetime) -> tuple[str, str]:
    """A line that breaks one rule, and the reason the quarantine gives."""
    user = rng.randrange(1, USERS + 1)
    base = {"event_id": f"bad{n:05d}", "event_type": "page_view", "user_id": user}
    stamp = _rfc3339(ts, False)
    kind = rng.randrange(8)
    if kind == 0:  # the shipper cut a line short
        line = json.dumps({**base, "ts": stamp, "page": "/"})
        return line[: rng.randrange(5, len(line) - 1)], "malformed_json"
    if kind == 1:
        return "", "malformed_json"
    if kind == 2:  # an anonymous visitor
        doc = {k: v for k, v in base.items() if k != "user_id"}
        return json.dumps({**doc, "ts": stamp}), "missing_user_id"
    if kind == 3:
        return json.dumps({**base, "user_id": str(user), "ts": stamp}), "invalid_user_id"
    if kind == 4:
        return json.dumps({**base, "ts": "2026-09-31T10:00:00Z"}), "invalid_ts"
    if kind == 5:  # a tracker heartbeat, no type of the vocabulary
        return json.dumps({**base, "event_type": "heartbeat", "ts": stamp}), "unknown_event_type"
    if kind == 6:
        return json.dumps({**base, "event_type": "add_to_cart", "ts": stamp}), "missing_item_id"
    doc = {**base, "event_type": "purchase", "ts": stamp, "price": -5}
    return json.dumps(doc), "negative_price"


def clickstream(seed: int = 16) -> ClickLog:
    rng = random.Random(seed)
    ids = iter(range(1, 10**7))
    events = sorted(
        (e for user in range(1, USERS + 1) for e in _sessions(rng, user, ids)),
        key=lambda e: e.ts,
    )
    last_day = START + dt.timedelta(days=DAYS - 1)
    events = [e for e in events if e.ts.date() <= last_day]  # no event after the last arrival
    partitions: dict[dt.date, list[str]] = {START + dt.timedelta(days=d): [] for d in range(DAYS)}
    log = ClickLog(partitions, events, faults=[], redeliveries=0)
    for event in events:
        arrives = event.ts.date()
        if rng.random() < P_LATE and arrives < last_day:
            arrives = min(arrives + dt.timedelta(days=rng.randrange(1, 3)), last_day)
            log.late += 1
        line = event.line(rng.random() < P_OFFSET)
        partitions[arrives].append(line)
        if rng.random() < P_REDELIVERED:  # the same bytes again, now or with the next file
            again = min(arrives + dt.timedelta(days=rng.randrange(2)), last_day)
            partitions[again].append(line)
            log.redeliveries += 1
        if rng.random() < P_FAULT:
            fault = _fault(rng, len(log.faults), event.ts)
            partitions[arrives].append(fault[0])
            log.faults.append(fault)
        log.by_type[event.event_type] = log.by_type.get(event.event_type, 0) + 1
    return log
