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
                            (a cluster: some of its nodes,
                            ``redis://host1:port1,host2:port2``)
``PITSTOP_REDIS_TYPE``      ``redis`` (one server) or ``redis_cluster``    ``redis``
``PITSTOP_REGISTRY_URL``    a SQL registry (``postgresql://...``) shared   unset: the file
                            by several processes or hosts                  ``<data>/registry.db``
``PITSTOP_ENGINE``          the offline engine: ``duckdb`` or ``spark``    ``duckdb``
``PITSTOP_SPARK_MASTER``    the Spark master the ``spark`` engine uses     ``local[2]``
                            (``spark://host:7077``, ``yarn``, ``k8s://...``)
``PITSTOP_API_KEY``         the key the API asks for on writes (header     unset: no key
                            ``X-API-Key`` or ``Authorization: Bearer``)
``PITSTOP_API_KEY_READS``   ask for the key on every read route too        ``false``
                            (``true``; not the probes)
``PITSTOP_ONLINE_TTL``      ``off``: serve stale values (past the view's   ``on``
                            coverage + 2 intervals, or its ttl) instead
                            of ``OUTSIDE_MAX_AGE``
``PITSTOP_MAX_ENTITIES``    entity rows per lookup; more is a 413          1000
``PITSTOP_MAX_BODY_BYTES``  request body size; more is a 413, refused      4194304 (4 MiB)
                            before the body is read
``PITSTOP_MATERIALIZE_      rows per batch of ``pitstop materialize``:     100000
BATCH_ROWS``                its memory grows with it, not with the table
``PITSTOP_MATERIALIZE_      DuckDB's memory limit while materializing      ``512MB``
MEMORY``                    (it spills to ``<data>/tmp`` beyond)
``PITSTOP_SERVING_LOG_RATE`` share of entity keys whose lookups the API    ``0.05``; ``0`` = off
                            logs to ``<data>/logs/`` (monitoring skew)
``PITSTOP_FRESHNESS_HOURS`` the expected interval between snapshots;      ``24`` (daily)
                            stale past coverage + 2 intervals
``PITSTOP_WAREHOUSE_       days of raw lines and events the warehouse     unset: the dbt var
HORIZON_DAYS``              keeps (dbt var ``warehouse_horizon_days``)     (45)
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
REDIS_TYPE_ENV = "PITSTOP_REDIS_TYPE"
# Feast's names (``redis_type`` of its Redis online store); Sentinel is not supported.
REDIS_TYPES = ("redis", "redis_cluster")
REGISTRY_URL_ENV = "PITSTOP_REGISTRY_URL"
ENGINE_ENV = "PITSTOP_ENGINE"
ENGINES = ("duckdb", "spark")
SPARK_MASTER_ENV = "PITSTOP_SPARK_MASTER"
# Spark's local mode on two threads: this machine kind has 2 cores shared with other work.
DEFAULT_SPARK_MASTER = "local[2]"
API_KEY_ENV = "PITSTOP_API_KEY"
API_KEY_READS_ENV = "PITSTOP_API_KEY_READS"
ONLINE_TTL_ENV = "PITSTOP_ONLINE_TTL"
MAX_ENTITIES_ENV = "PITSTOP_MAX_ENTITIES"
DEFAULT_MAX_ENTITIES = 1000
MAX_BODY_BYTES_ENV = "PITSTOP_MAX_BODY_BYTES"
# 1,000 entity rows of a few keys are tens of kB: 4 MiB leaves room for large pushes.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
MATERIALIZE_BATCH_ROWS_ENV = "PITSTOP_MATERIALIZE_BATCH_ROWS"
DEFAULT_MATERIALIZE_BATCH_ROWS = 100_000
MATERIALIZE_MEMORY_ENV = "PITSTOP_MATERIALIZE_MEMORY"
DEFAULT_MATERIALIZE_MEMORY = "512MB"
SERVING_LOG_RATE_ENV = "PITSTOP_SERVING_LOG_RATE"
DEFAULT_SERVING_LOG_RATE = 0.05
FRESHNESS_HOURS_ENV = "PITSTOP_FRESHNESS_HOURS"
DEFAULT_FRESHNESS_HOURS = 24.0
WAREHOUSE_HORIZON_DAYS_ENV = "PITSTOP_WAREHOUSE_HORIZON_DAYS"


def _project_root() -> Path:
    """Where dbt's project (``transformations/``) and Feast's repo (``feature_repo/``) are, never
    relative to the working directory: in an installed wheel, the copy it ships inside the
    package (``pitstop/project/``; docs/architecture.md §6, "Installed"); in a checkout (an
    editable install), its own, beside ``service/`` (service/pitstop/settings.py -> parents[2])."""
    package = Path(__file__).resolve().parent
    shipped = package / "project"
    return shipped if shipped.is_dir() else package.parents[1]


PROJECT_ROOT = _project_root()
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
    redis_type: str = "redis"
    registry_url: str | None = None
    engine: str = "duckdb"
    spark_master: str = DEFAULT_SPARK_MASTER
    api_key: str | None = None
    api_key_on_reads: bool = False
    online_ttl: bool = True
    max_entities: int = DEFAULT_MAX_ENTITIES
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    materialize_batch_rows: int = DEFAULT_MATERIALIZE_BATCH_ROWS
    materialize_memory: str = DEFAULT_MATERIALIZE_MEMORY
    # Share of entity keys (by a stable hash) whose lookups are logged for skew checks.
    serving_log_rate: float = DEFAULT_SERVING_LOG_RATE
    # How often a new snapshot is expected; freshness warns past 1.5x, errors past 2x.
    freshness_hours: float = DEFAULT_FRESHNESS_HOURS
    # The warehouse horizon in days (dbt var warehouse_horizon_days); None: the dbt project's.
    warehouse_horizon_days: int | None = None

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
            redis_type=_choice(REDIS_TYPE_ENV, REDIS_TYPES),
            registry_url=os.environ.get(REGISTRY_URL_ENV) or None,
            engine=_choice(ENGINE_ENV, ENGINES),
            spark_master=os.environ.get(SPARK_MASTER_ENV) or DEFAULT_SPARK_MASTER,
            api_key=os.environ.get(API_KEY_ENV) or None,
            api_key_on_reads=_flag(API_KEY_READS_ENV, default=False),
            online_ttl=_flag(ONLINE_TTL_ENV, default=True),
            max_entities=_positive_int(MAX_ENTITIES_ENV, DEFAULT_MAX_ENTITIES),
            max_body_bytes=_positive_int(MAX_BODY_BYTES_ENV, DEFAULT_MAX_BODY_BYTES),
            materialize_batch_rows=_positive_int(
                MATERIALIZE_BATCH_ROWS_ENV, DEFAULT_MATERIALIZE_BATCH_ROWS
            ),
            materialize_memory=os.environ.get(MATERIALIZE_MEMORY_ENV) or DEFAULT_MATERIALIZE_MEMORY,
            serving_log_rate=_number(SERVING_LOG_RATE_ENV, DEFAULT_SERVING_LOG_RATE, 0.0, 1.0),
            freshness_hours=_number(FRESHNESS_HOURS_ENV, DEFAULT_FRESHNESS_HOURS, 0.0, None),
            warehouse_horizon_days=(
                _positive_int(WAREHOUSE_HORIZON_DAYS_ENV, 1)
                if os.environ.get(WAREHOUSE_HORIZON_DAYS_ENV)
                else None
            ),
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
        """The SQLite online store (pitstop's layout), written by materialize, push and Feast's
        plugin, read by the API and Feast's plugin."""
        return self.data_dir / "online_store.db"

    @property
    def online_state_dir(self) -> Path:
        """What pitstop's materializer last wrote online, one Parquet file per view."""
        return self.data_dir / "online_state"

    @property
    def temp_dir(self) -> Path:
        """Scratch space (DuckDB spills here when a job exceeds its memory limit)."""
        return self.data_dir / "tmp"

    @property
    def dbt_pending_dir(self) -> Path:
        """Where a build writes its external tables before they are published (see build/run.py)."""
        return self.data_dir / "dbt" / "pending"

    def environment(self) -> dict[str, str]:
        """These settings as ``PITSTOP_*`` variables: what a child process needs to agree."""
        variables = {
            DATA_DIR_ENV: str(self.data_dir),
            HOST_ENV: self.host,
            PORT_ENV: str(self.port),
            ONLINE_STORE_ENV: self.online_store,
            REDIS_URL_ENV: self.redis_url,
            REDIS_TYPE_ENV: self.redis_type,
            ENGINE_ENV: self.engine,
            SPARK_MASTER_ENV: self.spark_master,
            API_KEY_READS_ENV: "on" if self.api_key_on_reads else "off",
            ONLINE_TTL_ENV: "on" if self.online_ttl else "off",
            MAX_ENTITIES_ENV: str(self.max_entities),
            MAX_BODY_BYTES_ENV: str(self.max_body_bytes),
            MATERIALIZE_BATCH_ROWS_ENV: str(self.materialize_batch_rows),
            MATERIALIZE_MEMORY_ENV: self.materialize_memory,
            SERVING_LOG_RATE_ENV: str(self.serving_log_rate),
            FRESHNESS_HOURS_ENV: str(self.freshness_hours),
        }
        if self.registry_url:
            variables[REGISTRY_URL_ENV] = self.registry_url
        if self.api_key:
            variables[API_KEY_ENV] = self.api_key
        return variables

    @property
    def feast_dir(self) -> Path:
        """Where the feature_store.yaml generated for these settings is written."""
        return self.data_dir / "feast"

    # ---- monitoring ------------------------------------------------------------------------
    @property
    def serving_logs_dir(self) -> Path:
        """Sampled online lookups, ``date=YYYY-MM-DD/part-*.parquet`` (the API writes them)."""
        return self.data_dir / "logs" / "serving"

    @property
    def monitoring_dir(self) -> Path:
        """The drift baseline and the saved profiles of ``pitstop monitor``."""
        return self.data_dir / "monitoring"

    @property
    def baseline_path(self) -> Path:
        """The drift baseline: per-feature bins and histogram of a training set (JSON)."""
        return self.monitoring_dir / "baseline.json"

    def __repr__(self) -> str:
        # No api_key here: a repr ends up in logs.
        return (
            f"Settings(data_dir={str(self.data_dir)!r}, host={self.host!r}, port={self.port}, "
            f"online_store={self.online_store!r}, engine={self.engine!r})"
        )


def _number(variable: str, default: float, low: float, high: float | None) -> float:
    """A number from the environment within [low, high] (high None: no upper bound)."""
    text = os.environ.get(variable)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"{variable} must be a number, got {text!r}") from None
    if not (value >= low and (high is None or value <= high)):
        upper = f" and {high:g}" if high is not None else ""
        raise ConfigurationError(f"{variable} must be between {low:g}{upper}, got {text!r}")
    return value


def _choice(variable: str, allowed: tuple[str, ...]) -> str:
    """An environment variable restricted to ``allowed``; its first value is the default."""
    value = (os.environ.get(variable) or allowed[0]).strip().lower()
    if value not in allowed:
        raise ConfigurationError(
            f"{variable} must be one of {', '.join(allowed)}, got {os.environ.get(variable)!r}"
        )
    return value


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(variable: str, *, default: bool) -> bool:
    value = (os.environ.get(variable) or "").strip().lower()
    if not value:
        return default
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ConfigurationError(f"{variable} must be on or off, got {os.environ.get(variable)!r}")


def _positive_int(variable: str, default: int) -> int:
    value = os.environ.get(variable)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigurationError(f"{variable} must be a positive whole number, got {value!r}")
    return number
