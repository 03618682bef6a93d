"""Checks on Feast's SQL registry in PostgreSQL (``PITSTOP_REGISTRY_URL``), before Feast runs.

Feast reports an unreachable database as a long SQLAlchemy trace, late. These checks say it in
one line first: the server cannot be reached (with psycopg's reason), or the database holds no
registry yet (``pitstop apply`` first). psycopg is Feast's driver here (``postgresql+psycopg``
in the generated feature_store.yaml) and is imported only when a SQL registry is configured.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pitstop.errors import ConfigurationError, FeastError, MissingInputError
from pitstop.feast_adapter.config import sqlalchemy_url
from pitstop.settings import REGISTRY_URL_ENV

CONNECT_TIMEOUT_SECONDS = 5


def display(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{parts.hostname}:{parts.port or 5432}{parts.path}"


def libpq_url(url: str) -> str:
    """``postgresql://...`` for psycopg, whatever driver suffix the setting carries."""
    return "postgresql://" + sqlalchemy_url(url).partition("://")[2]


def require_reachable(url: str, *, applied: bool) -> None:
    """Fail in one line when the registry database is down, or (``applied``) still empty."""
    try:
        import psycopg
    except ImportError as error:  # pragma: no cover - a dependency of pitstop
        raise ConfigurationError(
            f"{REGISTRY_URL_ENV} needs the psycopg driver: pip install 'psycopg[binary]'"
        ) from error
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=CONNECT_TIMEOUT_SECONDS) as db:
            if not applied:
                return
            found = db.execute(
                "select count(*) from information_schema.tables where table_name = 'projects'"
            ).fetchone()
            projects = (
                db.execute("select count(*) from projects").fetchone()
                if found and found[0]
                else (0,)
            )
    except psycopg.Error as error:
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise FeastError(
            f"cannot reach the registry database {display(url)} ({reason}); "
            f"start PostgreSQL or fix {REGISTRY_URL_ENV}"
        ) from error
    if not projects or not projects[0]:
        raise MissingInputError(f"no Feast registry in {display(url)}; run `pitstop apply` first")
