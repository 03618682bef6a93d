"""The one Spark session of a pitstop process (``PITSTOP_ENGINE=spark``).

dbt-spark (``method: session``) and Feast's Spark offline store both take the active session
when there is one, so pitstop starts it first, with the settings below, and both run on it:
one JVM per process, and settings that neither tool would set. Feast 0.67 reads Spark settings
only from ``offline_store.spark_conf`` and ignores them under ``batch_engine``; starting the
session ourselves is what makes them hold for materialization too.

Every setting was seen failing here without it; :func:`spark_conf` says why for each.
pyspark is imported inside the functions: it is the optional extra ``pitstop[spark]``.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from pitstop.errors import ConfigurationError
from pitstop.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The dbt-spark schema (a database of the in-memory catalog) the models are built in.
DBT_SCHEMA = "pitstop"


def spark_conf(settings: Settings) -> dict[str, str]:
    """The Spark settings pitstop runs with, each with the reason it is needed."""
    return {
        "spark.master": settings.spark_master,
        "spark.app.name": "pitstop",
        # Feast's Spark store and every date boundary of the models assume UTC: with the host's
        # zone, Feast returns shifted timestamps and point-in-time joins pick wrong rows.
        "spark.sql.session.timeZone": "UTC",
        # Spark 4 writes INT96 timestamps by default, which DuckDB and pyarrow read without the
        # UTC marker; microseconds adjusted to UTC are what the DuckDB path writes.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        # No Hive/Derby metastore: it would be created in the working folder (metastore_db/),
        # and a second process could not open it. The build's tables live only in this session;
        # the Parquet feature tables are the hand-off, as with DuckDB.
        "spark.sql.catalogImplementation": "in-memory",
        # The build's managed tables and Spark's spill go under the data folder, not the cwd.
        "spark.sql.warehouse.dir": str(settings.spark_dir / "warehouse"),
        "spark.local.dir": str(settings.spark_dir / "tmp"),
        # A rebuild writes into the folders of the previous build (the in-memory catalog has
        # forgotten those tables): allow CREATE TABLE AS into a folder that is not empty.
        "spark.sql.legacy.allowNonEmptyLocationInCTAS": "true",
        # Local mode listens on loopback only, and no web UI (it would take port 4040+ on a
        # shared machine and serve it on every interface).
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # Small on this 2-core shared machine: 4 shuffle partitions instead of 200 (tiny tasks
        # dominate otherwise), 2 GB of driver heap. A cluster overrides these in its defaults.
        "spark.sql.shuffle.partitions": "4",
        "spark.default.parallelism": "4",
        "spark.driver.memory": "2g",
        # dbt-spark forces non-ANSI mode on its session; the same for Feast, so one session
        # has one meaning of every cast.
        "spark.sql.ansi.enabled": "false",
    }


def spark_session(settings: Settings) -> SparkSession:
    """The active Spark session, started with :func:`spark_conf` when there is none yet."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise ConfigurationError(
            "PITSTOP_ENGINE=spark needs the spark extra: pip install 'pitstop[spark]'"
        ) from error

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    settings.spark_dir.mkdir(parents=True, exist_ok=True)
    if settings.spark_master.startswith("local"):
        # Local mode: Spark's own address lookup must not pick a public interface either.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Its Python workers run this interpreter, which imports pitstop (the raw read
        # decompresses .jsonl.gz with pitstop.build.raw_files), not the first python3 on PATH
        # (PySpark reads the variable, not spark.pyspark.python, when it starts the context).
        # On a cluster, pitstop must be installed where the executors' Python runs.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
