"""On-demand features: computed at request time by the same Python in training and serving."""

import pandas as pd
from feast import Field
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64

from data_sources import request_context
from feature_views import user_profile


@on_demand_feature_view(
    sources=[user_profile, request_context],
    # No per-field descriptions here: Feast 0.67 compares them when it checks the schema
    # against the output of the function, and an inferred field has none (apply would fail).
    schema=[
        Field(name="hours_since_last_event", dtype=Float64),
        Field(name="days_since_first_seen", dtype=Float64),
    ],
    description=(
        "Recency as of the request: hours_since_last_event (from the latest event before the "
        "snapshot to request_time) and days_since_first_seen (first event to request_time)."
    ),
    owner="pitstop",
)
def user_recency(inputs: pd.DataFrame) -> pd.DataFrame:
    # Everything the function uses is inside it: Feast stores the function in the registry,
    # and a reader that cannot import this file (the API, a training job) must still run it.
    import pandas as pd

    def _as_utc(values: pd.Series) -> pd.Series:
        """Datetimes, ISO strings or epoch seconds (Feast passes request data unconverted)."""
        if pd.api.types.is_numeric_dtype(values):
            return pd.to_datetime(values, unit="s", utc=True)
        return pd.to_datetime(values, utc=True)

    request_time = _as_utc(inputs["request_time"])
    last_event_at = _as_utc(inputs["last_event_at"])
    first_seen_at = _as_utc(inputs["first_seen_at"])
    outputs = pd.DataFrame(index=inputs.index)
    outputs["hours_since_last_event"] = (request_time - last_event_at).dt.total_seconds() / 3600
    outputs["days_since_first_seen"] = (request_time - first_seen_at).dt.total_seconds() / 86400
    return outputs
