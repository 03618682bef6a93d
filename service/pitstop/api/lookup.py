"""Online lookups: a request checked, read through a compiled plan, answered as Feast answers.

1. **Plan.** ``feature_service`` or ``features`` picks a plan compiled from the registry
   (:mod:`pitstop.online.plans`): an unknown service, view or feature is a 404 naming it, a
   malformed ref or two features answering to the same name a 422. Names are looked up in the
   plans, never put into a query.
2. **Entity rows.** Every list the same length, at most ``PITSTOP_MAX_ENTITIES`` rows (413
   beyond), every join key the plan needs present, join-key values of their entity's type
   (422 naming the key otherwise).

   **request_time.** The on-demand view ``user_recency`` (in ``churn_v1``) reads the request
   data field ``request_time``: ISO 8601 (an offset converts to UTC, no offset means UTC) or
   epoch seconds per row; absent means the server's current UTC time for every row. Whole
   seconds, as Feast keeps a UnixTimestamp.
3. **Read.** One round trip to the online store for all views
   (:func:`~pitstop.online.plans.execute`), values aged (``OUTSIDE_MAX_AGE``: older than
   their view's ttl, or in a view past its coverage plus the grace, :mod:`pitstop.coverage`),
   on-demand views computed (as old as their inputs).
4. **Answer.** Feast's feature-server JSON: join keys first in ``metadata.feature_names``, one
   ``results`` entry per column with ``values``, ``statuses`` and ``event_timestamps`` (RFC 3339,
   ``Z``). Deliberate differences from ``feast serve``: a null UnixTimestamp is ``null`` (Feast
   leaks -9223372036854775808), features come in the order asked for, an aged value is
   ``OUTSIDE_MAX_AGE`` (Feast serves it; the header ``Pitstop-Stale`` names each stale view
   and since when), an on-demand output computed for an entity the store has no row of is
   ``NOT_FOUND`` as its input (Feast says ``PRESENT`` with a null value), and an entity Redis
   has no hash for is ``NOT_FOUND`` (Feast's own ``type: redis`` reader says ``PRESENT`` with
   a null value and a 1970 timestamp).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pitstop import coverage
from pitstop.api.catalog import quote_name
from pitstop.api.serving import Serving
from pitstop.errors import (
    InvalidInputError,
    OnlineStoreUnavailableError,
    TooManyEntitiesError,
    UnknownFeatureServiceError,
)
from pitstop.online import codec
from pitstop.online.plans import EPOCH, LookupPlan, ReadOutcome, execute
from pitstop.online.registry import FieldDef

_INTEGER_BITS = {"INT32": 32, "INT64": 64}


@dataclass(frozen=True)
class LookupRequest:
    """What a lookup asks, whichever endpoint it came through."""

    entities: Mapping[str, Sequence[Any]]
    feature_service: str | None = None
    features: Sequence[str] = ()
    full_feature_names: bool = False
    include_feature_view_version_metadata: bool = False


@dataclass(frozen=True)
class LookupResult:
    plan: LookupPlan
    join_keys: tuple[str, ...]
    entities: Mapping[str, Sequence[Any]]
    rows: int
    outcome: ReadOutcome
    request_time: list[float]
    now: dt.datetime  # the server's clock for this lookup (whole seconds, UTC)
    # The views this lookup read that are stale (online name -> epoch second it went stale).
    stale: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def stale_header(self) -> dict[str, str]:
        """``Pitstop-Stale: view=since, ...`` when a view read is stale; else no header."""
        if not self.stale:
            return {}
        text = ", ".join(
            f"{view}={codec.rfc3339(since)}" for view, since in sorted(self.stale.items())
        )
        return {"Pitstop-Stale": text}


async def lookup(
    serving: Serving, request: LookupRequest, now: float | None = None
) -> LookupResult:
    """Plan, check, read. Raises pitstop errors (the API maps them to 404/413/422/503)."""
    compiled = serving.compiled
    problem = serving.problem
    if compiled is None or problem is not None:
        raise problem or OnlineStoreUnavailableError("not ready")
    plan = _plan(serving, request)
    rows = _row_count(request.entities, serving.settings.max_entities)
    key_types = compiled.plans.join_key_types
    unknown = [name for name in request.entities if name not in compiled.plans.entity_columns]
    if unknown:
        # one was answered 200, then broke the monitor once the serving log sampled it
        raise InvalidInputError(
            f"entities: unknown column(s) {', '.join(map(quote_name, unknown))}; they are join "
            f"keys or request data: {', '.join(_named(compiled.plans.entity_columns))}"
        )
    for key in plan.join_keys:
        if key not in request.entities:
            raise InvalidInputError(
                f"entities: missing join key {key!r}; this lookup needs {', '.join(plan.join_keys)}"
            )
    join_keys = tuple(key for key in request.entities if key in key_types)
    for key in join_keys:
        _check_join_key(key, request.entities[key], key_types[key])
    # UnixTimestamp holds whole seconds: Feast drops the fraction of a request time anyway.
    now_seconds = float(math.floor(time.time() if now is None else now))
    request_data = {
        field.name: _request_field(field, request.entities, rows, now_seconds)
        for field in plan.request_fields
    }
    stale = serving.stale_views(now_seconds)
    try:
        outcome = await execute(
            plan,
            serving.store,
            request.entities,
            request_data,
            rows,
            now_seconds,
            serving.settings.online_ttl,
            _stale_before(serving, now_seconds, stale),
        )
    except OnlineStoreUnavailableError as error:
        serving.note_store_error(error)
        raise
    times = request_data.get("request_time") or [now_seconds] * rows
    moment = dt.datetime.fromtimestamp(now_seconds, tz=dt.timezone.utc)
    read = {planned.read.view for planned in plan.reads}
    return LookupResult(
        plan,
        join_keys,
        request.entities,
        rows,
        outcome,
        list(times),
        moment,
        {view: since for view, since in stale.items() if view in read},
    )


def _named(columns: frozenset[str]) -> list[str]:
    """The entity columns to name in a message: without Feast's own (``__dummy_id``)."""
    return sorted(name for name in columns if not name.startswith("__"))


def _stale_before(
    serving: Serving, now_seconds: float, stale: Mapping[str, float]
) -> dict[str, float]:
    """Each stale view's cutoff: rows older than the grace before now (pitstop.coverage)."""
    if not stale:
        return {}
    cutoff = now_seconds - coverage.grace_seconds(serving.settings.freshness_hours)
    return dict.fromkeys(stale, cutoff)


def _plan(serving: Serving, request: LookupRequest) -> LookupPlan:
    assert serving.compiled is not None
    compiled = serving.compiled
    if request.feature_service and request.features:
        raise InvalidInputError("give either `features` or `feature_service`, not both")
    if request.feature_service:
        plan = compiled.plans.services.get((request.feature_service, request.full_feature_names))
        if plan is None:
            raise UnknownFeatureServiceError(
                f"feature service {quote_name(request.feature_service)} not found; "
                f"known: {', '.join(sorted(compiled.catalog.services))}"
            )
        return plan
    if request.features:
        return compiled.plans.for_refs(request.features, request.full_feature_names)
    raise InvalidInputError('give `features` (["feature_view:feature", ...]) or `feature_service`')


def _row_count(entities: Mapping[str, Sequence[Any]], limit: int) -> int:
    counts = {key: len(values) for key, values in entities.items()}
    if not counts:
        raise InvalidInputError("entities: no join keys given")
    first, rows = next(iter(counts.items()))
    for key, count in counts.items():
        if count != rows:
            raise InvalidInputError(
                f"entities: {quote_name(key)} has {count} values but {quote_name(first)} "
                f"has {rows}; every entity list needs one value per row"
            )
    if rows == 0:
        raise InvalidInputError(
            f"entities: {quote_name(first)} has no values; send at least one row"
        )
    if rows > limit:
        raise TooManyEntitiesError(rows, limit)
    return rows


def _check_join_key(key: str, values: Sequence[Any], value_type: str) -> None:
    if value_type in _INTEGER_BITS:
        bound = 2 ** (_INTEGER_BITS[value_type] - 1)
        for row, value in enumerate(values):
            if type(value) is not int or not -bound <= value < bound:
                raise InvalidInputError(
                    f"entities: {key!r} must be {_INTEGER_BITS[value_type]}-bit integers; "
                    f"row {row} is {quote_name(str(value))}"
                )
    elif value_type == "STRING":
        for row, value in enumerate(values):
            if not isinstance(value, str):
                raise InvalidInputError(
                    f"entities: {key!r} must be strings; row {row} is {quote_name(str(value))}"
                )
    elif any(value is None for value in values):
        raise InvalidInputError(f"entities: {key!r} must not be null")


def _request_field(
    field: FieldDef, entities: Mapping[str, Sequence[Any]], rows: int, now_seconds: float
) -> list[Any]:
    if field.name not in entities:
        if field.value_type == "UNIX_TIMESTAMP":
            return [now_seconds] * rows
        raise InvalidInputError(f"entities: missing request data {field.name!r}")
    given = entities[field.name]
    if field.value_type == "UNIX_TIMESTAMP":
        return [_epoch_seconds(field.name, row, value) for row, value in enumerate(given)]
    return list(given)


def _epoch_seconds(key: str, row: int, value: Any) -> float:
    seconds = codec.epoch_seconds(value)
    if seconds is None:
        raise InvalidInputError(
            f"entities: {key!r} must be ISO 8601 strings or epoch seconds; "
            f"row {row} is {quote_name(str(value))}"
        )
    return float(math.floor(seconds))


# ---- answers ---------------------------------------------------------------------------------
def feast_response(result: LookupResult, include_view_metadata: bool) -> dict[str, Any]:
    """Feast's feature-server JSON (column-oriented)."""
    rows = result.rows
    names = [*result.join_keys, *result.plan.feature_names]
    present = ["PRESENT"] * rows
    epochs = [EPOCH] * rows
    results: list[dict[str, Any]] = [
        {"values": list(result.entities[key]), "statuses": present, "event_timestamps": epochs}
        for key in result.join_keys
    ]
    results += [
        {
            "values": column.values,
            "statuses": column.statuses,
            "event_timestamps": column.event_timestamps,
        }
        for column in result.outcome.columns
    ]
    metadata: dict[str, Any] = {"feature_names": names}
    if include_view_metadata:
        # Feast leaves out a version of 0 (pitstop's views are not versioned).
        metadata["feature_view_metadata"] = [{"name": view} for view in result.plan.views]
    return {"metadata": metadata, "results": results}


def row_response(result: LookupResult) -> dict[str, Any]:
    """One entity row as objects keyed by name: for people and simple clients."""
    columns = dict(zip(result.plan.feature_names, result.outcome.columns, strict=True))
    return {
        "entities": {key: result.entities[key][0] for key in result.join_keys},
        "features": {name: column.values[0] for name, column in columns.items()},
        "statuses": {name: column.statuses[0] for name, column in columns.items()},
        "event_timestamps": {name: column.event_timestamps[0] for name, column in columns.items()},
    }
