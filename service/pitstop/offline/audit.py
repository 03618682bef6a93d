"""Leakage audit of a training set written with source timestamps.

``pitstop training-set --with-source-timestamps`` (or ``--audit``) adds, per feature view,
``<view>__event_timestamp``: the ``event_timestamp`` of the feature row each entity row got.
:func:`audit_training_set` checks every row and view: that timestamp is <= the row's own
``event_timestamp`` (no look-ahead), >= ``event_timestamp - ttl`` (ttl from the registry;
none means unlimited), and null where the row's ``event_timestamp`` is past the view's table
coverage plus the grace (:mod:`pitstop.coverage`). A null source timestamp (no feature row)
passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from pitstop import coverage, spill
from pitstop.errors import InvalidInputError
from pitstop.feast_adapter import repo
from pitstop.settings import Settings
from pitstop.sql import identifier, literal

__all__ = ["AuditReport", "audit_training_set"]

SUFFIX = "__event_timestamp"
ENTITY_TIMESTAMP = "event_timestamp"


@dataclass(frozen=True)
class AuditReport:
    path: Path
    rows: int
    views: list[str]
    # One line per violation: row number, view, what is wrong, the row.
    violations: list[str] = field(default_factory=list)


def audit_training_set(settings: Settings, path: Path) -> AuditReport:
    """Check ``path``'s source timestamps against its entity timestamps and the views' ttl."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"no training set at {path}")
    try:
        names = list(pq.read_schema(path).names)
    except (pa.ArrowException, OSError) as error:
        raise InvalidInputError(f"{path} is not a readable Parquet file: {error}") from error
    if ENTITY_TIMESTAMP not in names:
        raise InvalidInputError(f"{path} has no `{ENTITY_TIMESTAMP}` column")
    views = [name.removesuffix(SUFFIX) for name in names if name.endswith(SUFFIX)]
    if not views:
        raise InvalidInputError(
            f"{path} has no <view>{SUFFIX} columns; write it with "
            "`pitstop training-set --with-source-timestamps`"
        )
    repo.require_registry(settings)
    store = repo.open_store(settings)
    known = {view.name: view for view in store.list_feature_views()}
    unknown = [view for view in views if view not in known]
    if unknown:
        raise InvalidInputError(
            f"{path} has source timestamps of unknown feature view(s) {', '.join(unknown)}"
        )
    ttls: dict[str, timedelta | None] = {view: known[view].ttl or None for view in views}

    checks = []
    for view in views:
        source = f"{identifier(view + SUFFIX)}::TIMESTAMPTZ"
        entity = f"{identifier(ENTITY_TIMESTAMP)}::TIMESTAMPTZ"
        conditions = [f"WHEN {source} > {entity} THEN 'after the row''s event_timestamp'"]
        ttl = ttls[view]
        if ttl is not None:
            micros = int(ttl / timedelta(microseconds=1))
            conditions.append(
                f"WHEN {source} < {entity} - INTERVAL ({micros}) MICROSECONDS "
                f"THEN 'older than the ttl ({ttl}) before'"
            )
        covered = coverage.of_source(known[view].batch_source)
        if covered is not None:
            stale = coverage.stale_after(covered, settings.freshness_hours)
            conditions.append(
                f"WHEN {source} IS NOT NULL "
                f"AND {entity} > {literal(stale.isoformat())}::TIMESTAMPTZ "
                f"THEN 'served although its table is stale from {stale:%Y-%m-%d %H:%M:%S%z} at'"
            )
        checks.append(
            f"SELECT __row, '{view}' AS view, {source} AS source, {entity} AS entity, "
            f"CASE {' '.join(conditions)} END AS problem FROM t"
        )
    with spill.connect() as connection:
        connection.execute(
            f"CREATE TEMP VIEW t AS SELECT row_number() OVER () - 1 AS __row, * "
            f"FROM read_parquet({literal(path)})"
        )
        rows = connection.execute("SELECT count(*) FROM t").fetchall()[0][0]
        shown = [name for name in names if not name.endswith(SUFFIX)]
        found = connection.execute(
            f"SELECT c.__row, c.view, c.source, c.entity, c.problem, "
            f"{', '.join('t.' + identifier(n) for n in shown)} "
            f"FROM ({' UNION ALL '.join(checks)}) AS c JOIN t USING (__row) "
            "WHERE c.problem IS NOT NULL ORDER BY c.__row, c.view"
        ).fetchall()
        violations = []
        for row, view, source, entity, problem, *values in found:
            described = ", ".join(f"{n}={v}" for n, v in zip(shown, values, strict=True))
            violations.append(
                f"row {row}: {view}{SUFFIX} {source} is {problem} {entity}; {described}"
            )
    return AuditReport(path=path, rows=int(rows), views=views, violations=violations)
