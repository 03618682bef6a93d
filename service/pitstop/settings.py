"""Settings in one place.

Precedence, highest first: a command-line flag (``--data-dir``), the environment
(``PITSTOP_DATA_DIR``), the default (``./data`` relative to the working directory). Every path
pitstop reads or writes derives from :attr:`Settings.data_dir`, so tests and benchmarks run in
temporary folders without touching the user's data.

    >>> settings = Settings.from_env(data_dir="/tmp/pitstop-data")
    >>> settings.raw_events_dir
    PosixPath('/tmp/pitstop-data/raw/events')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_DIR_ENV = "PITSTOP_DATA_DIR"
DEFAULT_DATA_DIR = Path("data")

# The project root: service/pitstop/settings.py -> parents[2]. dbt's project and Feast's repo are
# found relative to it, not to the working directory.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "transformations"


@dataclass(frozen=True)
class Settings:
    """Where pitstop keeps its data. Build with :meth:`from_env`."""

    data_dir: Path

    @classmethod
    def from_env(cls, data_dir: str | os.PathLike[str] | None = None) -> Settings:
        """Resolve settings: the ``data_dir`` argument > ``PITSTOP_DATA_DIR`` > ``./data``."""
        chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
        path = Path(chosen) if chosen else DEFAULT_DATA_DIR
        return cls(data_dir=path.expanduser().resolve())

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
    def dbt_pending_dir(self) -> Path:
        """Where a build writes its external tables before they are published (see build.py)."""
        return self.data_dir / "dbt" / "pending"

    def __repr__(self) -> str:
        return f"Settings(data_dir={str(self.data_dir)!r})"
