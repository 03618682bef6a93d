"""The offline engine, chosen once: DuckDB (the default) or Spark (``PITSTOP_ENGINE=spark``).

The dbt models, the feature repo and the online half are the same on both engines; what
differs is stated here, once, and every part that runs differently asks :func:`engine_for`
instead of comparing ``settings.engine``:

==========================  ===============================  =================================
                            DuckDB                           Spark
==========================  ===============================  =================================
dbt                         dbt-duckdb in a child process    dbt-spark in this process, on
                            (:mod:`pitstop.build.dbt`)       pitstop's session
                                                             (:mod:`pitstop.build.spark`)
incremental builds          yes: the warehouse file keeps    no: the catalog is in memory,
                            the tables a build extends       every build is whole
Feast's offline store       feature_store.yaml's own         Feast's Spark store with
                            (pitstop's ASOF store)           pitstop's Spark settings
before Feast opens a store  nothing                          pitstop's Spark session starts
                                                             (Feast takes the active one)
``feast apply``             as is                            ``--skip-source-validation``
==========================  ===============================  =================================

Importing this module imports neither dbt, DuckDB nor pyspark: the API's start-up reads the
Feast config, which asks the engine for its offline store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pitstop.build import dbt, spark, spark_session
from pitstop.build.dbt import DbtVars, Echo, LineCounts
from pitstop.settings import Settings

__all__ = ["Engine", "engine_for"]


class RunDbt(Protocol):
    def __call__(
        self, settings: Settings, args: list[str], *, dbt_vars: DbtVars, echo: Echo
    ) -> None:
        """``dbt <args>``, its external tables written under ``settings.dbt_pending_dir`` as
        one Parquet file each; :class:`~pitstop.errors.BuildError` on failure."""


@dataclass(frozen=True)
class Engine:
    """What the build and the Feast adapter ask of the engine."""

    name: str
    run_dbt: RunDbt
    # The accounting of the last build.
    read_line_counts: Callable[[Settings], LineCounts]
    # Whether a build extends the tables of the previous one, kept in the warehouse file; an
    # engine without (Spark's in-memory catalog) builds every model whole every time.
    incremental: bool
    # feature_store.yaml's `offline_store` section; None (the default) keeps the committed one.
    feast_offline_store: Callable[[Settings], dict[str, Any] | None] = lambda settings: None
    # What must happen in this process before Feast opens a store (by default nothing).
    prepare_feast: Callable[[Settings], object] = lambda settings: None
    # Extra arguments of `feast apply`.
    feast_apply_flags: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"Engine({self.name!r})"


def _spark_offline_store(settings: Settings) -> dict[str, Any]:
    """Feast's Spark store: feature_repo/data_sources.py reads this type and declares its
    Parquet tables as SparkSources for it. pitstop starts the Spark session before Feast needs
    one (``prepare_feast``), so ``spark_conf`` matters only to a process Feast starts Spark in
    (``feast`` on the command line)."""
    return {"type": "spark", "spark_conf": spark_session.spark_conf(settings)}


# The one mapping from PITSTOP_ENGINE (settings.ENGINES) to an engine.
_ENGINES = {
    # Feast reads feature_store.yaml as committed: pitstop's ASOF store.
    "duckdb": Engine("duckdb", dbt.run_in_child, dbt.read_line_counts, incremental=True),
    "spark": Engine(
        name="spark",
        run_dbt=spark.run_in_process,
        read_line_counts=spark.read_line_counts,
        incremental=False,
        feast_offline_store=_spark_offline_store,
        # Feast's Spark store takes the active session: pitstop's, with pitstop's settings
        # (Feast ignores Spark settings under batch_engine).
        prepare_feast=spark_session.spark_session,
        # Validating SparkSources starts a Spark JVM in the apply child just to read four
        # Parquet schemas (30-50 s here); the build checked the tables, the views declare
        # their schemas.
        feast_apply_flags=("--skip-source-validation",),
    ),
}


def engine_for(settings: Settings) -> Engine:
    """The engine ``settings.engine`` names."""
    return _ENGINES[settings.engine]
