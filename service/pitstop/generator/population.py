"""Who shops and what they can buy: the users and the item catalogue, drawn once per data set.

Everything the features must be able to find is a property of the population, fixed up front so
each simulated day only has to look it up: heavy and light users (lognormal activity), users who
sign up during the period (user ids grow with the signup day), users who fade out and churn, and
a catalogue of popular and long-tail items (Zipf-like popularity).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import numpy.typing as npt

from pitstop.generator import vocab

# Share of users already signed up on the first day; the rest arrive over the period.
INITIAL_USER_SHARE = 0.5
# Share of users who fade out and stop; their expected lifetime after signup, in days.
CHURNER_SHARE = 0.35
CHURNER_MEAN_LIFETIME_DAYS = 40.0
# How many days a churner's activity takes to fade from normal to nothing.
FADE_DAYS_RANGE = (4, 15)
# Spread of activity between light and heavy users (sigma of the lognormal).
ACTIVITY_SIGMA = 1.0
# The catalogue has at least this many items, and one per this many users beyond that.
MIN_ITEMS = 1000
USERS_PER_ITEM = 10
# Zipf exponent of item popularity: the top item gets ~10% of views of a 1,000-item catalogue.
ITEM_POPULARITY_EXPONENT = 0.9
# Share of items given away for free: a price of exactly 0 is valid and should show up.
FREE_ITEM_SHARE = 0.005
# churn_day of the users who stay: later than any period we generate.
NEVER = np.iinfo(np.int32).max


@dataclass(frozen=True)
class Population:
    """One entry per user; user ``first_user_id + i`` is entry ``i``.

    User ids are given in signup order. A population can be cut into blocks of users
    (:meth:`block`) so a very large day is simulated a block at a time.
    """

    signup_day: npt.NDArray[np.int32]
    """Day index (0 = the first generated day) from which the user is active."""
    activity: npt.NDArray[np.float64]
    """Relative activity, lognormal with mean 1: multiplies the sessions a user starts per day."""
    churn_day: npt.NDArray[np.int32]
    """Day index from which the user is gone for good; :data:`NEVER` for users who stay."""
    fade_days: npt.NDArray[np.int32]
    """Days before ``churn_day`` over which activity fades linearly to zero."""
    device: npt.NDArray[np.uint8]
    """The device the user mostly uses (index into :data:`vocab.DEVICES`)."""
    country: npt.NDArray[np.uint8]
    """Index into :data:`vocab.COUNTRIES`; also decides the offset of local timestamps."""
    first_user_id: int = 1

    @property
    def size(self) -> int:
        return len(self.signup_day)

    def presence(self, day: int) -> npt.NDArray[np.float64]:
        """Each user's activity multiplier on ``day``: 0 before signup, fading to 0 at churn."""
        signed_up = self.signup_day <= day
        remaining = (self.churn_day.astype(np.float64) - day) / self.fade_days
        return np.where(signed_up, np.clip(remaining, 0.0, 1.0), 0.0)

    def block(self, start: int, stop: int) -> Population:
        """The users at entries ``start`` to ``stop - 1`` (views, not copies)."""
        arrays = {
            f.name: getattr(self, f.name)[start:stop]
            for f in fields(self)
            if f.name != "first_user_id"
        }
        return replace(self, **arrays, first_user_id=self.first_user_id + start)

    def fading(self, day: int) -> npt.NDArray[np.bool_]:
        """Users whose activity is fading on ``day``: they are the ones who open tickets."""
        return (self.churn_day - self.fade_days <= day) & (day < self.churn_day)


def draw_population(rng: np.random.Generator, users: int, days: int) -> Population:
    """Draw ``users`` users for a period of ``days`` days."""
    late_signup = rng.random(users) >= INITIAL_USER_SHARE
    # With a single day there is no "later": everyone is there from the start.
    later_day = rng.integers(1, days, size=users) if days > 1 else np.zeros(users, np.int64)
    # Sorting makes user ids grow with the signup day, as a real sequence would.
    signup_day = np.sort(np.where(late_signup, later_day, 0)).astype(np.int32)

    activity = rng.lognormal(0.0, ACTIVITY_SIGMA, size=users) / np.exp(ACTIVITY_SIGMA**2 / 2)

    churns = rng.random(users) < CHURNER_SHARE
    lifetime = np.ceil(rng.exponential(CHURNER_MEAN_LIFETIME_DAYS, size=users))
    fade_days = rng.integers(*FADE_DAYS_RANGE, size=users, endpoint=True).astype(np.int32)
    # A churner stays at least one full fade after signup, so everyone is seen before fading.
    churn_at = np.minimum(signup_day + fade_days + lifetime, NEVER).astype(np.int32)
    churn_day = np.where(churns, churn_at, NEVER).astype(np.int32)

    device = rng.choice(len(vocab.DEVICES), size=users, p=vocab.DEVICE_WEIGHTS)
    country = rng.choice(len(vocab.COUNTRIES), size=users, p=vocab.COUNTRY_WEIGHTS)
    return Population(
        signup_day=signup_day,
        activity=activity,
        churn_day=churn_day,
        fade_days=fade_days,
        device=device.astype(np.uint8),
        country=country.astype(np.uint8),
    )


@dataclass(frozen=True)
class Catalogue:
    """The items, ids ``1..size``; popularity is independent of the id."""

    item_by_rank: npt.NDArray[np.int64]
    """The item id of the most popular item first."""
    rank_cdf: npt.NDArray[np.float64]
    """Cumulative popularity over ranks, for inverse-transform sampling."""
    price_cents: npt.NDArray[np.int64]
    """Unit price of item ``i`` at index ``i - 1``, in cents."""

    @property
    def size(self) -> int:
        return len(self.item_by_rank)

    def sample(self, rng: np.random.Generator, count: int) -> npt.NDArray[np.int64]:
        """``count`` item ids drawn by popularity."""
        rank = np.searchsorted(self.rank_cdf, rng.random(count), side="right")
        return self.item_by_rank[np.minimum(rank, self.size - 1)]


def draw_catalogue(rng: np.random.Generator, users: int) -> Catalogue:
    """A catalogue sized for ``users`` users (ids ``1..max(1000, users // 10)``)."""
    size = max(MIN_ITEMS, users // USERS_PER_ITEM)
    weights = 1.0 / np.arange(1, size + 1, dtype=np.float64) ** ITEM_POPULARITY_EXPONENT
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    item_by_rank = rng.permutation(size).astype(np.int64) + 1
    # Prices from about 2 to 300 (median 25), in whole cents; a few free items.
    price = rng.lognormal(np.log(25.0), 0.9, size=size)
    price_cents = np.maximum(np.round(price * 100), 99).astype(np.int64)
    price_cents[rng.random(size) < FREE_ITEM_SHARE] = 0
    return Catalogue(item_by_rank=item_by_rank, rank_cdf=cdf, price_cents=price_cents)
