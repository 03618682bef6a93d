"""Progress of long work on stderr: a tqdm line with rows, rows/s and ETA (a view's
materialization, a training set's join)."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


class Progress:
    """A progress line for ``total`` rows of the work ``description`` names (nothing when
    ``enabled`` is false)."""

    def __init__(self, description: str, total: int, *, enabled: bool) -> None:
        self._bar: Any = None
        if enabled and total:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                desc=description,
                unit=" rows",
                unit_scale=True,
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=0.5,
            )

    def advance(self, rows: int) -> None:
        if self._bar is not None:
            self._bar.update(rows)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.close()


def stage(command: str, what: str, *, enabled: bool) -> None:
    """A stage of ``command``'s work on stderr, when progress is on and stderr is a terminal
    (a log or a pipe keeps its one line per note or error)."""
    if enabled and sys.stderr.isatty():
        print(f"pitstop {command}: {what}...", file=sys.stderr, flush=True)
