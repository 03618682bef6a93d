"""Drift: the population stability index (PSI) of a feature between the baseline and now.

    PSI = sum over bins of (current% - baseline%) * ln(current% / baseline%)

on the baseline's fixed bins (deciles, two tail bins, a null bin; :mod:`.profiles`), so a shift,
new values outside the baseline's range and a null spike all raise it. Empty bins are floored
at :data:`EPSILON` (the usual smoothing; without it one empty bin makes PSI infinite).

Thresholds are the customary ones: below 0.1 no real change, 0.1 to 0.25 a change worth a look
(``warn``), 0.25 and above a shift the model did not train on (``error``). Fewer than
:data:`MIN_ROWS` rows on either side is ``insufficient_data``, never ``ok``: PSI on a few hundred
rows is mostly noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pitstop.monitoring.profiles import Profile
from pitstop.monitoring.statuses import Status

PSI_WARN = 0.1
PSI_ERROR = 0.25
MIN_ROWS = 1_000
EPSILON = 1e-4


@dataclass(frozen=True)
class Drift:
    psi: float | None
    status: Status


def psi(baseline: Sequence[int], current: Sequence[int]) -> float:
    """PSI of two histograms on the same bins."""
    if len(baseline) != len(current):
        raise ValueError("histograms on different bins")
    total_baseline, total_current = sum(baseline), sum(current)
    if not total_baseline or not total_current:
        raise ValueError("an empty histogram has no PSI")
    value = 0.0
    for expected, actual in zip(baseline, current, strict=True):
        p = max(expected / total_baseline, EPSILON)
        q = max(actual / total_current, EPSILON)
        value += (q - p) * math.log(q / p)
    return value


def drift(baseline: Profile | None, current: Profile | None) -> Drift:
    """PSI and its status for one feature; ``insufficient_data`` without enough rows."""
    if (
        baseline is None
        or current is None
        or not baseline.counts
        or not current.counts
        or baseline.rows < MIN_ROWS
        or current.rows < MIN_ROWS
    ):
        value = (
            psi(baseline.counts, current.counts)
            if baseline
            and current
            and baseline.counts
            and current.counts
            and baseline.rows
            and current.rows
            else None
        )
        return Drift(psi=value, status="insufficient_data")
    value = psi(baseline.counts, current.counts)
    status: Status = "error" if value >= PSI_ERROR else "warn" if value >= PSI_WARN else "ok"
    return Drift(psi=value, status=status)
