"""The statuses monitoring reports, and how they combine into one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

# ok: within every threshold; warn: worth a look; error: act now; insufficient_data: too few
# rows to tell (counts as warn overall, never as ok); skipped: not measured here, with a reason.
Status = Literal["ok", "warn", "error", "insufficient_data", "skipped"]
Overall = Literal["ok", "warn", "error"]

_RANK: dict[str, int] = {"skipped": 0, "ok": 0, "insufficient_data": 1, "warn": 1, "error": 2}
EXIT_CODES: dict[str, int] = {"ok": 0, "warn": 1, "error": 2}


def worst(statuses: Iterable[Status]) -> Overall:
    """The overall status of several: error > warn (or insufficient_data) > ok."""
    rank = max((_RANK[status] for status in statuses), default=0)
    return ("ok", "warn", "error")[rank]
