"""One simulated day of shopping, as columns: sessions and their browse -> cart -> purchase funnels.

A present user starts a Poisson number of sessions a day (more for heavy users, fewer while they
fade out). A session opens with an optional login, views a few items (popular ones more often),
searches, puts some viewed items in the cart and buys some carted items at a checkout at its end;
a few purchases are refunded days later and a few sessions open a support ticket (more often for
users who are about to churn, so a churn model has something to learn). Sessions last minutes to
about an hour and may run past UTC midnight.

Everything is vectorised over the day's sessions: no Python loop per user or event.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import numpy.typing as npt

from pitstop.generator import vocab
from pitstop.generator.population import Catalogue, Population

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

# Sessions per day of a user of average activity: calibrated so a whole population (late signups
# and churners included) averages about 2 events per user per day.
SESSIONS_PER_DAY = 0.65
WEEKEND_FACTOR = 1.1
# When sessions start, by UTC hour: quiet at night in Europe, busy in the European evening.
_HOUR_WEIGHTS = np.array(
    [5, 4, 3, 3, 3, 4, 6, 8, 10, 11, 11, 12, 13, 13, 13, 14, 15, 16, 17, 18, 17, 14, 10, 7],
    dtype=np.float64,
)
HOUR_PROBABILITIES = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()

# The funnel of one session.
P_LOGIN = 0.35
MEAN_SEARCHES = 0.7
MEAN_PAGE_VIEWS = 3.0
P_CART_AFTER_VIEW = 0.12
P_BUY_AFTER_CART = 0.4
P_SINGLE_UNIT = 0.75  # quantity is geometric: 1 three times out of four
P_REFUND = 0.06
REFUND_DELAY_MS = (2 * HOUR_MS, 10 * DAY_MS)
P_TICKET = 0.008
P_TICKET_WHILE_FADING = 0.06
MEAN_GAP_MS = 75_000  # between two events of a session

# How clients fill the optional fields and write timestamps.
P_OTHER_DEVICE = 0.1
P_NO_DEVICE = 0.02
P_NO_COUNTRY = 0.03
P_QUANTITY_OMITTED = 0.3  # of single-unit purchases: "omitted means 1"
P_TS_LOCAL = 0.06  # in the user's country offset (~5% of lines end up with a non-zero offset)
P_TS_NAIVE = 0.02  # no offset at all, meaning UTC
P_TS_PLUS_ZERO = 0.15  # of the remaining UTC timestamps: "+00:00" instead of "Z"

NO_SESSION = -1
NO_ITEM = 0
NO_PRICE = -1
QUANTITY_OMITTED = 0


@dataclass(frozen=True)
class EventBatch:
    """Events as parallel columns; one row per distinct event, in no particular order."""

    user_id: npt.NDArray[np.int64]
    event_type: npt.NDArray[np.uint8]
    """Index into :data:`vocab.EVENT_TYPES`."""
    ts_ms: npt.NDArray[np.int64]
    """Event time, milliseconds since the Unix epoch (UTC)."""
    session: npt.NDArray[np.int64]
    """Session number, unique over the data set; :data:`NO_SESSION` for back-office refunds."""
    item_id: npt.NDArray[np.int64]
    """:data:`NO_ITEM` for event types without an item."""
    price_cents: npt.NDArray[np.int64]
    """Unit price; :data:`NO_PRICE` for event types without a price."""
    quantity: npt.NDArray[np.int64]
    """:data:`QUANTITY_OMITTED` where the line leaves it out (purchases of one unit, others)."""
    device: npt.NDArray[np.uint8]
    """Index into :data:`vocab.DEVICES`, or :data:`vocab.ABSENT`."""
    country: npt.NDArray[np.uint8]
    """The user's country; it also gives the offset of TS_LOCAL timestamps."""
    country_shown: npt.NDArray[np.bool_]
    ts_style: npt.NDArray[np.uint8]
    """How the line writes ``ts``: one of the ``vocab.TS_*`` codes."""

    def __len__(self) -> int:
        return len(self.user_id)

    def select(self, rows: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> EventBatch:
        """The rows picked by a boolean mask or an index array, in that order."""
        return replace(self, **{f.name: getattr(self, f.name)[rows] for f in fields(self)})


def simulate_day(
    rng: np.random.Generator,
    *,
    day: int,
    day_start_ms: int,
    weekend: bool,
    population: Population,
    catalogue: Catalogue,
    first_session: int,
) -> tuple[EventBatch, int]:
    """The events of the sessions that start on ``day`` (and the refunds they lead to).

    Returns the events and the number of sessions started; session numbers run from
    ``first_session``. Events can lie after the day: sessions running past midnight, refunds.
    """
    weekday_factor = WEEKEND_FACTOR if weekend else 1.0
    rate = SESSIONS_PER_DAY * weekday_factor * population.activity * population.presence(day)
    session_user = np.repeat(np.arange(population.size), rng.poisson(rate))
    sessions = len(session_user)
    session_start = (
        day_start_ms
        + rng.choice(24, size=sessions, p=HOUR_PROBABILITIES) * HOUR_MS
        + rng.integers(0, HOUR_MS, size=sessions)
    )

    funnel = _session_funnels(rng, sessions, population.fading(day)[session_user], catalogue)
    session, event_type, item_id, quantity = funnel
    ts_ms = session_start[session] + _offsets_within_session(rng, session)

    refunded = np.flatnonzero(event_type == vocab.PURCHASE)
    refunded = refunded[rng.random(len(refunded)) < P_REFUND]
    refund_ts = ts_ms[refunded] + rng.integers(*REFUND_DELAY_MS, size=len(refunded))

    user = np.concatenate([session_user[session], session_user[session[refunded]]])
    user_id = user.astype(np.int64) + population.first_user_id
    event_type = np.concatenate([event_type, np.full(len(refunded), vocab.REFUND, np.uint8)])
    ts_ms = np.concatenate([ts_ms, refund_ts])
    item_id = np.concatenate([item_id, item_id[refunded]])
    quantity = np.concatenate([quantity, quantity[refunded]])
    session_device = np.where(
        rng.random(sessions) < P_OTHER_DEVICE,
        rng.integers(0, len(vocab.DEVICES), size=sessions),
        population.device[session_user],
    ).astype(np.uint8)
    device = np.concatenate(
        [session_device[session], np.full(len(refunded), vocab.ABSENT, np.uint8)]
    )
    session_number = np.concatenate(
        [first_session + session, np.full(len(refunded), NO_SESSION, np.int64)]
    )
    return (
        _client_fields(
            rng,
            user_id=user_id,
            event_type=event_type,
            ts_ms=ts_ms,
            session=session_number,
            item_id=item_id,
            quantity=quantity,
            device=device,
            country=population.country[user],
            catalogue=catalogue,
        ),
        sessions,
    )


Funnel = tuple[
    npt.NDArray[np.int64], npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.int64]
]


def _session_funnels(
    rng: np.random.Generator,
    sessions: int,
    fading: npt.NDArray[np.bool_],
    catalogue: Catalogue,
) -> Funnel:
    """Session index, event type, item and quantity of every event, in order within a session.

    Order comes from a sort key: a login first, page views and searches in between, an add to
    cart after the view of its item, all purchases of a session at its checkout at the end.
    """
    every = np.arange(sessions)
    logins = every[rng.random(sessions) < P_LOGIN]
    searches = np.repeat(every, rng.poisson(MEAN_SEARCHES, size=sessions))
    views = np.repeat(every, rng.geometric(1.0 / MEAN_PAGE_VIEWS, size=sessions))
    view_key = rng.random(len(views))
    view_item = catalogue.sample(rng, len(views))

    carted = rng.random(len(views)) < P_CART_AFTER_VIEW
    carts = views[carted]
    cart_key = view_key[carted] + (1.0 - view_key[carted]) * rng.random(len(carts))
    cart_item = view_item[carted]

    bought = rng.random(len(carts)) < P_BUY_AFTER_CART
    purchases = carts[bought]
    purchase_key = 1.0 + cart_key[bought]
    purchase_quantity = rng.geometric(P_SINGLE_UNIT, size=len(purchases))

    p_ticket = np.where(fading, P_TICKET_WHILE_FADING, P_TICKET)
    tickets = every[rng.random(sessions) < p_ticket]

    parts = [
        (logins, vocab.LOGIN, np.full(len(logins), -1.0), None),
        (searches, vocab.SEARCH, rng.random(len(searches)), None),
        (views, vocab.PAGE_VIEW, view_key, view_item),
        (carts, vocab.ADD_TO_CART, cart_key, cart_item),
        (purchases, vocab.PURCHASE, purchase_key, cart_item[bought]),
        (tickets, vocab.SUPPORT_TICKET, rng.random(len(tickets)), None),
    ]
    session = np.concatenate([p[0] for p in parts]).astype(np.int64)
    event_type = np.concatenate([np.full(len(p[0]), p[1], np.uint8) for p in parts])
    key = np.concatenate([p[2] for p in parts])
    item_id = np.concatenate(
        [p[3] if p[3] is not None else np.full(len(p[0]), NO_ITEM, np.int64) for p in parts]
    )
    quantity = np.zeros(len(session), dtype=np.int64)
    quantity[event_type == vocab.PURCHASE] = purchase_quantity
    order = np.lexsort((key, session))
    return session[order], event_type[order], item_id[order], quantity[order]


def _offsets_within_session(
    rng: np.random.Generator, session: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Milliseconds from the session start to each event (``session`` sorted, grouped)."""
    gaps = rng.exponential(MEAN_GAP_MS, size=len(session))
    first = np.ones(len(session), dtype=np.bool_)
    first[1:] = session[1:] != session[:-1]
    gaps[first] = 0.0
    elapsed = np.cumsum(gaps)
    group = np.cumsum(first) - 1
    offsets: npt.NDArray[np.int64] = np.round(elapsed - elapsed[first][group]).astype(np.int64)
    return offsets


def _client_fields(
    rng: np.random.Generator,
    *,
    user_id: npt.NDArray[np.int64],
    event_type: npt.NDArray[np.uint8],
    ts_ms: npt.NDArray[np.int64],
    session: npt.NDArray[np.int64],
    item_id: npt.NDArray[np.int64],
    quantity: npt.NDArray[np.int64],
    device: npt.NDArray[np.uint8],
    country: npt.NDArray[np.uint8],
    catalogue: Catalogue,
) -> EventBatch:
    """Fill in what clients decide per line: prices, left-out optional fields, timestamp style."""
    events = len(user_id)
    priced = (event_type == vocab.PURCHASE) | (event_type == vocab.REFUND)
    price_cents = np.where(priced, catalogue.price_cents[np.maximum(item_id, 1) - 1], NO_PRICE)
    omit_quantity = priced & (quantity == 1) & (rng.random(events) < P_QUANTITY_OMITTED)
    quantity = np.where(omit_quantity, QUANTITY_OMITTED, quantity)
    device = np.where(rng.random(events) < P_NO_DEVICE, vocab.ABSENT, device).astype(np.uint8)

    style_draw = rng.random(events)
    utc_style = np.where(rng.random(events) < P_TS_PLUS_ZERO, vocab.TS_PLUS_ZERO, vocab.TS_Z)
    ts_style = np.select(
        [style_draw < P_TS_LOCAL, style_draw < P_TS_LOCAL + P_TS_NAIVE],
        [vocab.TS_LOCAL, vocab.TS_NAIVE],
        utc_style,
    ).astype(np.uint8)
    return EventBatch(
        user_id=user_id,
        event_type=event_type,
        ts_ms=ts_ms,
        session=session,
        item_id=item_id,
        price_cents=price_cents,
        quantity=quantity,
        device=device,
        country=country,
        country_shown=rng.random(events) >= P_NO_COUNTRY,
        ts_style=ts_style,
    )
