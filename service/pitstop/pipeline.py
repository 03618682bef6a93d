"""The daily job: build the feature tables, register them with Feast, load the online store.

``pitstop run`` and ``pitstop demo`` both run it; each stage is timed in the report.
"""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass
from datetime import date

from pitstop.build.run import BuildReport, build
from pitstop.feast_adapter import repo
from pitstop.materialize import materialize
from pitstop.settings import Settings


@dataclass(frozen=True)
class DailyRunReport:
    """What each stage did and how long it took, in seconds."""

    build: BuildReport
    apply_seconds: float
    materialize: repo.MaterializeReport
    seconds: float


def run_daily(
    settings: Settings, *, full_refresh: bool = False, run_date: date | None = None
) -> DailyRunReport:
    """build, apply, materialize (pitstop's materializer: changed entities only) for
    ``settings.data_dir``; Feast's progress lines hidden.

    The build is incremental (only the new arrival partitions, a lookback, and the entities they
    touch) unless ``full_refresh``; ``run_date`` runs the day whose partition just arrived.
    """
    began = time.perf_counter()
    built = build(settings, full_refresh=full_refresh, run_date=run_date, echo=None)
    started = time.perf_counter()
    repo.apply(settings, echo=None)
    apply_seconds = time.perf_counter() - started
    with contextlib.redirect_stdout(io.StringIO()):
        materialized = materialize(settings)
    return DailyRunReport(
        build=built,
        apply_seconds=apply_seconds,
        materialize=materialized,
        seconds=time.perf_counter() - began,
    )
