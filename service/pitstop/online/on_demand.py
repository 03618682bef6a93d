"""On-demand views at request time: the function stored in the registry, run on the lookup.

``feast apply`` stores an on-demand view's function (dill-serialized) in the registry; Feast's
training-set path runs that same function on the training rows. The lookup API loads it from
the registry once per compile and calls it with the source views' features and the request
data, in the shape of the view's mode:

- ``python`` (pitstop's ``user_recency``): a dict of plain lists; timestamps are epoch seconds
  as the online store holds them, nulls are None. Microseconds per call.
- ``pandas``: a frame; timestamps are timezone-aware (UTC) datetimes, nulls NaT/NaN. A frame
  costs milliseconds per lookup, which is why pitstop's own view uses python mode.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pitstop.errors import InvalidInputError
from pitstop.online.registry import FieldDef, OnDemandDef


@dataclass(frozen=True)
class OnDemandFunction:
    """One on-demand view, ready to run."""

    name: str
    function: Callable[[Any], Any]
    outputs: tuple[FieldDef, ...]
    mode: str = "pandas"

    @classmethod
    def load(cls, definition: OnDemandDef) -> OnDemandFunction:
        if definition.mode not in ("python", "pandas"):
            raise InvalidInputError(
                f"on-demand view {definition.name!r} uses mode {definition.mode!r}; "
                "pitstop's lookup API runs python and pandas views"
            )
        import dill

        if definition.mode == "pandas":
            import pandas  # noqa: F401 - imported now, at compile time, not on the first lookup
        return cls(
            definition.name, dill.loads(definition.udf), definition.features, definition.mode
        )

    def run(
        self, inputs: Mapping[str, Sequence[Any]], types: Mapping[str, str], rows: int
    ) -> dict[str, list[Any]]:
        """Output name -> one JSON value per row, for input columns of the given ValueTypes."""
        if self.mode == "python":
            result = self.function({name: list(values) for name, values in inputs.items()})
            return {
                output.name: [_json(value) for value in result[output.name]]
                for output in self.outputs
            }
        import pandas as pd

        frame = pd.DataFrame(
            {name: _series(values, types.get(name, "")) for name, values in inputs.items()},
            index=range(rows),
        )
        result = self.function(frame)
        return {
            output.name: [_json(value) for value in result[output.name].tolist()]
            for output in self.outputs
        }


def _series(values: Sequence[Any], value_type: str) -> Any:
    import pandas as pd

    if value_type == "UNIX_TIMESTAMP":
        return pd.to_datetime(
            [_seconds(value) for value in values], unit="s", utc=True, errors="coerce"
        )
    return pd.Series(list(values), dtype="object" if value_type == "STRING" else None)


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)


def _json(value: Any) -> Any:
    """A pandas/numpy output value as JSON: NaN/NaT -> null, numpy scalars -> Python."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    return value
