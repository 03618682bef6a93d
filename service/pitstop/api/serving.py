"""What the API serves from: the compiled registry and the online store, kept current.

:class:`Serving` holds the plans compiled from the registry (and the catalog built with them)
and the online store. :meth:`Serving.refresh` is called at start-up and then every
``POLL_SECONDS`` by the lifespan: it recompiles when the registry's version changed (a
``pitstop apply`` while the API runs), and checks the store and reads each view's coverage
(which views are stale: :mod:`pitstop.coverage`). Whatever is wrong is kept as
:attr:`Serving.problem`, which ``/ready`` reports and lookups answer 503 with; the next
refresh that succeeds clears it, so the API recovers on its own when the store returns.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from pitstop import coverage
from pitstop.api.catalog import Catalog
from pitstop.errors import MissingInputError, OnlineStoreUnavailableError, PitstopError
from pitstop.feast_adapter import repo
from pitstop.online.plans import PlanCompiler
from pitstop.online.registry import open_registry
from pitstop.online.stores import OnlineStore, open_online_store
from pitstop.settings import Settings

logger = logging.getLogger("pitstop.api")

POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Compiled:
    """One registry version, ready to serve."""

    version: str
    plans: PlanCompiler
    catalog: Catalog


class Serving:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.project, self.registry = open_registry(settings)
        self.store: OnlineStore = open_online_store(settings, self.project)
        self.compiled: Compiled | None = None
        self.registry_problem: PitstopError | None = None
        self.store_problem: PitstopError | None = None
        # Each online view's recorded coverage (pitstop.coverage), read with every check.
        self.coverage: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def problem(self) -> PitstopError | None:
        """Why lookups cannot be answered right now (None: they can)."""
        if self.compiled is None:
            return self.registry_problem or MissingInputError("the registry is not loaded yet")
        return self.store_problem

    def refresh(self) -> None:
        """Recompile if the registry changed, then check the store. Never raises."""
        with self._lock:
            self._refresh_registry()
            self._check_store()

    def _refresh_registry(self) -> None:
        try:
            version = self.registry.version()
            if self.compiled is not None and self.compiled.version == version:
                self.registry_problem = None
                return
            snapshot = self.registry.read()
            plans = PlanCompiler(snapshot)
            self.compiled = Compiled(snapshot.version, plans, Catalog.from_registry(snapshot))
            self.registry_problem = None
            logger.info(
                "serving %d feature views and %d feature services (registry %s)",
                len(snapshot.views) + len(snapshot.on_demand),
                len(snapshot.services),
                snapshot.version,
            )
        except MissingInputError as missing:
            problem: PitstopError = missing
            if self.compiled is None and self.settings.registry_url is None:
                # Nothing applied yet: name the first step that is missing (build or apply).
                try:
                    repo.require_feature_tables(self.settings)
                except MissingInputError as earlier:
                    problem = earlier
            self._log_change(self.registry_problem, problem)
            self.registry_problem = problem
        except PitstopError as error:
            # A registry that vanished or cannot be read: keep serving the last good plans.
            self._log_change(self.registry_problem, error)
            self.registry_problem = error
        except Exception as error:  # a half-written registry file, a protobuf error, ...
            unreadable = MissingInputError(f"cannot read the registry: {error}")
            self._log_change(self.registry_problem, unreadable)
            self.registry_problem = unreadable

    def _check_store(self) -> None:
        try:
            self.store.ping()
            self.coverage = self.store.coverage()  # ping checks every node; this reads one
            if not self.store.holds_rows():
                # an emptied Redis answered every lookup NOT_FOUND while this said ready
                raise OnlineStoreUnavailableError(
                    f"the {self.store.kind} online store holds no feature values (never "
                    "materialized, or emptied since): run `pitstop materialize`"
                )
        except OnlineStoreUnavailableError as error:
            self._log_change(self.store_problem, error)
            self.store_problem = error
        else:
            if self.store_problem is not None:
                logger.info("the online store is back")
            self.store_problem = None

    def stale_views(self, now_seconds: float) -> dict[str, float]:
        """The online views stale at ``now_seconds`` (online name -> when they went stale);
        none when ``PITSTOP_ONLINE_TTL=off``."""
        if not self.settings.online_ttl:
            return {}
        return coverage.stale_views(self.coverage, now_seconds, self.settings.freshness_hours)

    def note_store_error(self, error: OnlineStoreUnavailableError) -> None:
        """A lookup met a store error: report not-ready until the next good check."""
        self.store_problem = error

    @staticmethod
    def _log_change(before: PitstopError | None, after: PitstopError) -> None:
        if before is None or str(before) != str(after):
            logger.warning("not ready: %s", after)

    def close(self) -> None:
        self.store.close()
