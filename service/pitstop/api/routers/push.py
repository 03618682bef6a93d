"""``POST /push``: Feast's push request, written to the online store; the next lookup sees it."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from pitstop.api.deps import ServingDep
from pitstop.api.schemas import PushRequest, PushResponse, error_responses
from pitstop.api.security import require_key_for_writes
from pitstop.errors import InvalidInputError, MissingInputError, OnlineStoreUnavailableError
from pitstop.online.push import push as push_rows

router = APIRouter(tags=["push"], dependencies=[Depends(require_key_for_writes)])


@router.post("/push", responses=error_responses(401, 404, 413, 422, 503))
async def push(body: PushRequest, serving: ServingDep) -> PushResponse:
    """Rows for the views behind ``push_source_name`` (join keys, event_timestamp, features).

    ``to`` is ``online``. The offline side of pitstop is rebuilt from the raw log by dbt, so
    ``offline`` and ``online_and_offline`` are refused with a 422 that says so: send the events
    to the raw log instead, and they reach the training sets with the next build.
    """
    if body.to != "online":
        raise InvalidInputError(
            f"to={body.to!r}: pitstop's offline tables are built by dbt from the raw event log, "
            "so pushes go online only; write the events to the raw log for the offline side"
        )
    compiled = serving.compiled
    if compiled is None:
        raise serving.problem or MissingInputError("the registry is not loaded yet")
    try:
        outcome = push_rows(serving.store, compiled.plans.registry, body.push_source_name, body.df)
    except OnlineStoreUnavailableError as error:
        serving.note_store_error(error)
        raise
    return PushResponse(
        push_source_name=body.push_source_name,
        feature_views=outcome.feature_views,
        rows=outcome.rows,
        written=outcome.written,
    )
