"""The words of the raw event log: event types, devices, countries and timestamp styles.

The simulation works on small integer codes (indexes into the tuples below) so a day of events
stays a handful of numpy arrays; the renderer turns codes into text only when lines are written.
"""

from __future__ import annotations

from typing import Final

from pitstop.build import vocabulary

EVENT_TYPES: Final = (
    "page_view",
    "search",
    "add_to_cart",
    "purchase",
    "refund",
    "login",
    "support_ticket",
)
PAGE_VIEW, SEARCH, ADD_TO_CART, PURCHASE, REFUND, LOGIN, SUPPORT_TICKET = range(len(EVENT_TYPES))

# The types that must carry an item_id or a price (a line without one is quarantined), from
# the project's event vocabulary (vars.event_types in transformations/dbt_project.yml).
ITEM_EVENT_TYPES: Final = frozenset(
    code
    for code, name in enumerate(EVENT_TYPES)
    if name in vocabulary.types_with("item_id", ("required",))
)
PRICED_EVENT_TYPES: Final = frozenset(
    code
    for code, name in enumerate(EVENT_TYPES)
    if name in vocabulary.types_with("price", ("required",))
)

DEVICES: Final = ("mobile", "desktop", "tablet")
DEVICE_WEIGHTS: Final = (0.55, 0.35, 0.10)

# Each country comes with the UTC offset its clients write when they send local time. The
# offsets are fixed (no daylight saving): the rendered instant is what matters, not the zone.
COUNTRIES: Final = ("US", "DE", "GB", "FR", "IN", "BR", "JP", "ES", "CA", "AU")
COUNTRY_WEIGHTS: Final = (0.30, 0.12, 0.10, 0.08, 0.12, 0.08, 0.06, 0.05, 0.05, 0.04)
COUNTRY_UTC_OFFSET_MINUTES: Final = (-300, 60, 0, 60, 330, -180, 540, 120, -480, 600)

# Code of an optional field (device, item, ...) that a line leaves out.
ABSENT: Final = 255

# How a line writes its timestamp. TS_LOCAL means "in the offset of the user's country".
TS_Z, TS_PLUS_ZERO, TS_NAIVE, TS_LOCAL = range(4)


def format_offset(minutes: int) -> str:
    """``+05:30`` for 330, ``-05:00`` for -300, ``+00:00`` for 0 (RFC 3339 numeric offset)."""
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"
