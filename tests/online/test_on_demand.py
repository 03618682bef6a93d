"""On-demand functions run by the lookup API: python mode (pitstop's own view) and pandas mode."""

from __future__ import annotations

from typing import Any

import dill
import pandas as pd
import pytest

from pitstop.errors import InvalidInputError
from pitstop.online.on_demand import OnDemandFunction
from pitstop.online.registry import FieldDef, OnDemandDef

OUTPUT = (FieldDef("hours", "DOUBLE"),)


def _definition(function: Any, mode: str) -> OnDemandDef:
    return OnDemandDef(
        name="recency",
        sources=("user_profile",),
        request_fields=(FieldDef("request_time", "UNIX_TIMESTAMP"),),
        features=OUTPUT,
        udf=dill.dumps(function, recurse=True),
        mode=mode,
    )


def _python_udf(inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "hours": [
            None if last is None else (now - last) / 3600
            for now, last in zip(inputs["request_time"], inputs["last_event_at"], strict=True)
        ]
    }


def _pandas_udf(inputs: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=inputs.index)
    out["hours"] = (inputs["request_time"] - inputs["last_event_at"]).dt.total_seconds() / 3600
    return out


@pytest.mark.parametrize(("function", "mode"), [(_python_udf, "python"), (_pandas_udf, "pandas")])
def test_both_modes_give_the_same_json(function: Any, mode: str) -> None:
    run = OnDemandFunction.load(_definition(function, mode))
    result = run.run(
        {"request_time": [7200.0, 7200.0], "last_event_at": [0, None]},
        {"request_time": "UNIX_TIMESTAMP", "last_event_at": "UNIX_TIMESTAMP"},
        rows=2,
    )
    assert result == {"hours": [2.0, None]}


def test_other_modes_are_refused_by_name() -> None:
    with pytest.raises(InvalidInputError, match="mode 'substrait'"):
        OnDemandFunction.load(_definition(_python_udf, "substrait"))
