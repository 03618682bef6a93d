"""The faults of a real event feed, so the pipeline's quarantine and deduplication get exercised.

Each fault kind takes an equal share of ``dirty_rate``. An event picked for an *invalid* kind is
written once, as a corrupted copy that breaks exactly one rule of docs/architecture.md §2, and
never cleanly; an event picked for a *delivery* kind is valid but delivered twice or late. So,
exactly:

    lines written = clean events + duplicate deliveries + invalid lines

Timestamp styles (offsets other than UTC, no offset) are valid too; they are counted with the
faults so tests can see them, but they come from the clients, independently of ``dirty_rate``.

The corrupted shapes, which the quarantine must recognise (the rule each one breaks):

- ``malformed_json``: the line cut short at a random character (3 in 4), or written as a Python
  dict with single quotes (``{'event_id': 'e…', 'user_id': 42, …}``).
- ``missing_field``: one of ``event_id``, ``event_type``, ``user_id``, ``ts`` removed, or
  ``item_id`` (page_view, add_to_cart, purchase, refund) or ``price`` (purchase, refund).
- ``mistyped_field``: one of ``user_id`` as a string (``"u42"``) or a fraction (``42.5``),
  ``item_id`` as a string (``"sku-7"``), ``price`` as a string (``"$12.50"``), ``quantity`` as a
  fraction (``2.5``); none of them can be cast back to the right type.
- ``unknown_event_type``: ``click``, ``checkout``, ``wishlist_add``, ``pageview`` or ``PageView``.
- ``negative_price``: a purchase or refund whose positive price gets a minus sign.
- ``invalid_timestamp``: hour 25, month 13, day 32, US format (``01/05/2026 13:04:05``) or
  ``N/A``.
"""

from __future__ import annotations

import json
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from pitstop.generator import vocab
from pitstop.generator.behaviour import EventBatch

INVALID_KINDS: Final = (
    "malformed_json",
    "missing_field",
    "mistyped_field",
    "unknown_event_type",
    "negative_price",
    "invalid_timestamp",
)
DELIVERY_KINDS: Final = ("duplicate_delivery", "late_arrival")
TIMESTAMP_KINDS: Final = ("mixed_offset", "no_offset")
FAULT_KINDS: Final = INVALID_KINDS + DELIVERY_KINDS + TIMESTAMP_KINDS

# Codes in a fault plan: 0 is a clean event, then one code per kind in the order above.
CLEAN: Final = 0
KIND_CODE: Final = {kind: code for code, kind in enumerate(INVALID_KINDS + DELIVERY_KINDS, 1)}
KIND_OF_CODE: Final = {code: kind for kind, code in KIND_CODE.items()}
INVALID_CODES: Final = np.array([KIND_CODE[kind] for kind in INVALID_KINDS], dtype=np.uint8)
DUPLICATE: Final = KIND_CODE["duplicate_delivery"]
LATE: Final = KIND_CODE["late_arrival"]

# Corruptions that happen to need a rare kind of event are planned first, so the common kinds
# cannot use those events up.
_PLANNING_ORDER: Final = (
    "negative_price",
    "late_arrival",
    "malformed_json",
    "missing_field",
    "mistyped_field",
    "unknown_event_type",
    "invalid_timestamp",
    "duplicate_delivery",
)

UNKNOWN_EVENT_TYPES: Final = ("click", "checkout", "wishlist_add", "pageview", "PageView")
REQUIRED_FIELDS: Final = ("event_id", "event_type", "user_id", "ts")


def plan_faults(
    rng: np.random.Generator,
    events: EventBatch,
    *,
    event_day: npt.NDArray[np.int64],
    last_day: int,
    dirty_rate: float,
) -> npt.NDArray[np.uint8]:
    """One code per event: :data:`CLEAN` or the :data:`KIND_CODE` of the fault it gets.

    Late arrival needs an event before the last day (arrivals never go past it); negative price a
    purchase or refund with a positive price. When too few events qualify, that kind gets fewer.
    """
    count = len(events)
    plan = np.full(count, CLEAN, dtype=np.uint8)
    if count == 0 or dirty_rate == 0:
        return plan
    share = dirty_rate / len(KIND_CODE)
    priced = (events.event_type == vocab.PURCHASE) | (events.event_type == vocab.REFUND)
    eligible = {
        "negative_price": priced & (events.price_cents > 0),
        "late_arrival": event_day < last_day,
    }
    for kind in _PLANNING_ORDER:
        free = plan == CLEAN
        if kind in eligible:
            free &= eligible[kind]
        candidates = int(free.sum())
        if candidates == 0:
            continue
        probability = min(1.0, share * count / candidates)
        plan[free & (rng.random(count) < probability)] = KIND_CODE[kind]
    return plan


def corrupt_lines(
    rng: np.random.Generator, lines: pa.ChunkedArray, plan: npt.NDArray[np.uint8]
) -> tuple[pa.ChunkedArray, npt.NDArray[np.int64]]:
    """Add corrupted copies of the invalid events' lines; return the lines and which one to send.

    The second result gives, for each event, the index of the line that carries it: its own
    rendered line, or its corrupted copy appended at the end. Only the few invalid lines go
    through Python, and the clean ones are not copied.
    """
    line_of_event = np.arange(len(plan), dtype=np.int64)
    bad_rows = np.flatnonzero(np.isin(plan, INVALID_CODES))
    if len(bad_rows) == 0:
        return lines, line_of_event
    originals = lines.take(pa.array(bad_rows)).to_pylist()
    corrupted = [
        corrupt(line.removesuffix("\n"), KIND_OF_CODE[int(code)], rng) + "\n"
        for line, code in zip(originals, plan[bad_rows], strict=True)
    ]
    line_of_event[bad_rows] = len(plan) + np.arange(len(bad_rows))
    with_corrupted = [*lines.chunks, pa.array(corrupted, type=pa.string())]
    return pa.chunked_array(with_corrupted, type=pa.string()), line_of_event


class _RawNumber(str):
    """A JSON number kept as the text it was written as, so a line re-renders byte for byte."""


Pairs = list[tuple[str, object]]


def _parse(line: str) -> Pairs:
    pairs: Pairs = json.loads(
        line, object_pairs_hook=list, parse_int=_RawNumber, parse_float=_RawNumber
    )
    return pairs


def _dump(pairs: Pairs) -> str:
    body = ",".join(f"{json.dumps(key)}:{_value(value)}" for key, value in pairs)
    return "{" + body + "}"


def _value(value: object) -> str:
    return str(value) if isinstance(value, _RawNumber) else json.dumps(value)


def _pick(rng: np.random.Generator, options: list[str] | tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def corrupt(line: str, kind: str, rng: np.random.Generator) -> str:
    """The corrupted copy of a clean ``line`` (without its newline) for an invalid ``kind``."""
    if kind == "malformed_json":
        return _malformed(line, rng)
    pairs = _parse(line)
    fields = dict(pairs)
    if kind == "missing_field":
        event_type = vocab.EVENT_TYPES.index(str(fields["event_type"]))
        candidates = list(REQUIRED_FIELDS)
        if event_type in vocab.ITEM_EVENT_TYPES:
            candidates.append("item_id")
        if event_type in vocab.PRICED_EVENT_TYPES:
            candidates.append("price")
        removed = _pick(rng, candidates)
        return _dump([(key, value) for key, value in pairs if key != removed])
    if kind == "mistyped_field":
        key, value = _mistyped(fields, rng)
    elif kind == "unknown_event_type":
        key, value = "event_type", _pick(rng, UNKNOWN_EVENT_TYPES)
    elif kind == "negative_price":
        key, value = "price", _RawNumber("-" + str(fields["price"]))
    elif kind == "invalid_timestamp":
        key, value = "ts", _invalid_timestamp(str(fields["ts"]), rng)
    else:
        raise ValueError(f"not an invalid fault kind: {kind}")
    return _dump([(k, value if k == key else v) for k, v in pairs])


def _malformed(line: str, rng: np.random.Generator) -> str:
    if rng.random() < 0.75:
        # Any proper prefix of a JSON object is invalid JSON: the closing brace is missing.
        return line[: int(rng.integers(1, len(line) - 1))]
    items = ", ".join(
        f"'{key}': {value}" if isinstance(value, _RawNumber) else f"'{key}': '{value}'"
        for key, value in _parse(line)
    )
    return "{" + items + "}"


def _mistyped(fields: dict[str, object], rng: np.random.Generator) -> tuple[str, object]:
    user_id = str(fields["user_id"])
    options: list[tuple[str, object]] = [
        ("user_id", f"u{user_id}"),
        ("user_id", _RawNumber(f"{user_id}.5")),
    ]
    if "item_id" in fields:
        options.append(("item_id", f"sku-{fields['item_id']}"))
    if "price" in fields:
        options.append(("price", f"${fields['price']}"))
    if "quantity" in fields:
        options.append(("quantity", _RawNumber(f"{fields['quantity']}.5")))
    return options[int(rng.integers(len(options)))]


def _invalid_timestamp(ts: str, rng: np.random.Generator) -> str:
    variant = int(rng.integers(5))
    if variant == 0:
        return ts[:11] + "25" + ts[13:]
    if variant == 1:
        return ts[:5] + "13" + ts[7:]
    if variant == 2:
        return ts[:8] + "32" + ts[10:]
    if variant == 3:
        return f"{ts[5:7]}/{ts[8:10]}/{ts[:4]} {ts[11:19]}"
    return "N/A"
