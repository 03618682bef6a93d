"""Settings in one place.

Precedence, highest first: a command-line flag (``--data-dir``, ``--host``, ``--port``), the
environment (``PITSTOP_*``, table below), the default. Every path
pitstop reads or writes derives from :attr:`Settings.data_dir`, so tests and benchmarks run in
temporary folders without touching the user's data.

    >>> settings = Settings.from_env(data_dir="/tmp/pitstop-data")
    >>> settings.raw_events_dir
    PosixPath('/tmp/pitstop-data/raw/events')

==========================  ============================================  =========================
variable                    what                                          default
==========================  ============================================  =========================
``PITSTOP_DATA_DIR``        the data folder                               ``./data``
``PITSTOP_HOST``/``_PORT``  where ``pitstop serve`` listens                127.0.0.1, 8000
``PITSTOP_ONLINE_STORE``    ``sqlite`` or ``redis``                        ``sqlite``
``PITSTOP_REDIS_URL``       the Redis server of the ``redis`` online store ``redis://127.0.0.1:6379``
``PITSTOP_REGISTRY_URL``    a SQL registry (``postgresql://...``) shared   unset: the file
                            by several processes or hosts                  ``<data>/registry.db``
``PITSTOP_ENGINE``          the offline engine: ``duckdb`` or ``spark``    ``duckdb``
``PITSTOP_SPARK_MASTER``    the Spark master the ``spark`` engine uses     ``local[2]``
                            (``spark://host:7077``, ``yarn``, ``k8s://...``)
``PITSTOP_API_KEY``         the key the API asks for on writes             unset: no key
==========================  ============================================  =========================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pitstop.errors import ConfigurationError

DATA_DIR_ENV = "PITSTOP_DATA_DIR"
DEFAULT_DATA_DIR = Path("data")
HOST_ENV = "PITSTOP_HOST"
PORT_ENV = "PITSTOP_PORT"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
ONLINE_STORE_ENV = "PITSTOP_ONLINE_STORE"
ONLINE_STORES = ("sqlite", "redis")
REDIS_URL_ENV = "PITSTOP_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
REGISTRY_URL_ENV = "PITSTOP_REGISTRY_URL"
ENGINE_ENV = "PITSTOP_ENGINE"
ENGINES = ("duckdb", "spark")
SPARK_MASTER_ENV = "PITSTOP_SPARK_MASTER"
# Spark's local mode on two threads: this machine kind has 2 cores shared with other work.
DEFAULT_SPARK_MASTER = "local[2]"
API_KEY_ENV = "PITSTOP_API_KEY"

# The project root: service/pitstop/settings.py -> parents[2]. dbt's project and Feast's repo are
# found relative to it, not to the working directory.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "transformations"
FEATURE_REPO_DIR = PROJECT_ROOT / "feature_repo"


@dataclass(frozen=True)
class Settings:
    """Where pitstop keeps its data. Build with :meth:`from_env`."""

    data_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    online_store: str = "sqlite"
    redis_url: str = DEFAULT_REDIS_URL
    registry_url: str | None = None
    engine: str = "duckdb"
    spark_master: str = DEFAULT_SPARK_MASTER
    api_key: str | None = None

    @classmethod
    def from_env(
        cls,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        host: str | None = None,
        port: int | None = None,
    ) -> Settings:
        """Resolve settings: an argument > ``PITSTOP_*`` environment variable > default."""
        chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
        path = Path(chosen) if chosen else DEFAULT_DATA_DIR
        env_port = os.environ.get(PORT_ENV)
        try:
            resolved_port = port if port is not None else int(env_port or DEFAULT_PORT)
        except ValueError:
            raise ConfigurationError(
                f"{PORT_ENV} must be a port number, got {env_port!r}"
            ) from None
        return cls(
            data_dir=path.expanduser().resolve(),
            host=host or os.environ.get(HOST_ENV) or DEFAULT_HOST,
            port=resolved_port,
            online_store=_choice(ONLINE_STORE_ENV, ONLINE_STORES),
            redis_url=os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL,
            registry_url=os.environ.get(REGISTRY_URL_ENV) or None,
            engine=_choice(ENGINE_ENV, ENGINES),
            spark_master=os.environ.get(SPARK_MASTER_ENV) or DEFAULT_SPARK_MASTER,
            api_key=os.environ.get(API_KEY_ENV) or None,
        )

    # ---- raw input -------------------------------------------------------------------------
    @property
    def raw_events_dir(self) -> Path:
        """Raw JSON-lines logs, one folder per arrival day: ``date=YYYY-MM-DD/part-*.jsonl``."""
        return self.data_dir / "raw" / "events"

    # ---- dbt outputs -----------------------------------------------------------------------
    @property
    def warehouse_path(self) -> Path:
        """dbt's DuckDB database. Only the build process opens it (DuckDB allows one writer)."""
        return self.data_dir / "warehouse.duckdb"

    @property
    def features_dir(self) -> Path:
        """Parquet feature tables, one file per feature view (Feast's offline source)."""
        return self.data_dir / "features"

    @property
    def quarantine_dir(self) -> Path:
        """Rejected raw lines with file, line number, raw text and reason, as Parquet."""
        return self.data_dir / "quarantine"

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's target folder (manifest, run_results.json) kept per data folder."""
        return self.data_dir / "dbt" / "target"

    @property
    def dbt_log_dir(self) -> Path:
        return self.data_dir / "dbt" / "logs"

    @property
    def spark_dir(self) -> Path:
        """The Spark engine's scratch space: managed tables of the dbt build, shuffle spill."""
        return self.data_dir / "spark"

    # ---- Feast -----------------------------------------------------------------------------
    @property
    def registry_path(self) -> Path:
        """Feast's file registry (feature_repo/feature_store.yaml points here)."""
        return self.data_dir / "registry.db"

    @property
    def online_store_path(self) -> Path:
        """Feast's SQLite online store, written by materialize, read by the API."""
        return self.data_dir / "online_store.db"

    @property
    def dbt_pending_dir(self) -> Path:
        """Where a build writes its external tables before they are published (see build.py)."""
        return self.data_dir / "dbt" / "pending"

    @property
    def feast_dir(self) -> Path:
        """Where the feature_store.yaml generated for these settings is written."""
        return self.data_dir / "feast"

    def __repr__(self) -> str:
        # No api_key here: a repr ends up in logs.
        return (
            f"Settings(data_dir={str(self.data_dir)!r}, host={self.host!r}, port={self.port}, "
            f"online_store={self.online_store!r}, engine={self.engine!r})"
        )


def _choice(variable: str, allowed: tuple[str, ...]) -> str:
    """An environment variable restricted to ``allowed``; its first value is the default."""
    value = (os.environ.get(variable) or allowed[0]).strip().lower()
    if value not in allowed:
        raise ConfigurationError(
            f"{variable} must be one of {', '.join(allowed)}, got {os.environ.get(variable)!r}"
        )
    return value
