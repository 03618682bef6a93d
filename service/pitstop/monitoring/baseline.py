"""The drift baseline: what a model was trained on, profiled once and kept as JSON.

    pitstop monitor baseline churn_train.parquet        # or: pitstop training-set ... --baseline

A baseline is a training set, not "all data": drift means "the features the model now sees
differ from those it learned from". For every numeric feature of the training set it keeps the
bins (min, deciles, max of the training values) and the profile on them (:mod:`.profiles`).
It also keeps every batch feature view's join key, ttl and features, read from the Feast
registry here, so ``pitstop monitor`` itself never imports Feast. A later baseline replaces the
features it covers and keeps the others (one per feature service, say).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pitstop import spill
from pitstop.errors import InvalidInputError, MissingInputError, PitstopError
from pitstop.monitoring.profiles import Bins, Profile, cut_points, profile_rows
from pitstop.settings import Settings
from pitstop.sql import literal

# Feast types whose distribution PSI describes; timestamps grow by definition and are left out.
NUMERIC_TYPES = frozenset({"Int32", "Int64", "Float32", "Float64", "Bool"})


@dataclass(frozen=True)
class ViewSpec:
    """A batch feature view as monitoring needs it."""

    name: str
    join_key: str
    ttl_seconds: int | None
    # feature name -> Feast type name ("Int64", "Float64", "UnixTimestamp", ...)
    features: dict[str, str]

    @property
    def numeric_features(self) -> list[str]:
        return [name for name, dtype in self.features.items() if dtype in NUMERIC_TYPES]

    @property
    def ttl(self) -> dt.timedelta | None:
        return dt.timedelta(seconds=self.ttl_seconds) if self.ttl_seconds else None


@dataclass(frozen=True)
class FeatureBaseline:
    bins: Bins
    profile: Profile
    source: str


@dataclass(frozen=True)
class Baseline:
    views: dict[str, ViewSpec]
    # view -> feature -> its baseline
    features: dict[str, dict[str, FeatureBaseline]] = field(default_factory=dict)
    created_at: str = ""

    def feature(self, view: str, name: str) -> FeatureBaseline | None:
        return self.features.get(view, {}).get(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "created_at": self.created_at,
            "views": {
                name: {
                    "join_key": spec.join_key,
                    "ttl_seconds": spec.ttl_seconds,
                    "features": spec.features,
                }
                for name, spec in self.views.items()
            },
            "features": {
                view: {
                    name: {
                        "edges": list(item.bins.edges),
                        "profile": item.profile.to_json(),
                        "source": item.source,
                    }
                    for name, item in features.items()
                }
                for view, features in self.features.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Baseline:
        return cls(
            created_at=str(data.get("created_at", "")),
            views={
                name: ViewSpec(
                    name=name,
                    join_key=spec["join_key"],
                    ttl_seconds=spec.get("ttl_seconds"),
                    features=dict(spec["features"]),
                )
                for name, spec in data["views"].items()
            },
            features={
                view: {
                    name: FeatureBaseline(
                        bins=Bins(edges=tuple(float(edge) for edge in item["edges"])),
                        profile=Profile.from_json(item["profile"]),
                        source=str(item.get("source", "")),
                    )
                    for name, item in features.items()
                }
                for view, features in data.get("features", {}).items()
            },
        )


def load_baseline(settings: Settings) -> Baseline:
    """The saved baseline; :class:`MissingInputError` naming the command that makes one."""
    path = settings.baseline_path
    if not path.is_file():
        raise MissingInputError(
            f"no drift baseline at {path}; run `pitstop monitor baseline TRAINING_SET` "
            "(or `pitstop training-set ... --baseline`) first"
        )
    try:
        return Baseline.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidInputError(
            f"the baseline {path} cannot be read ({type(error).__name__}: {error}); "
            "write it again with `pitstop monitor baseline TRAINING_SET`"
        ) from error


def monitored_views(settings: Settings, baseline: Baseline) -> dict[str, ViewSpec]:
    """The views monitoring looks at: the registry's as it is now, so a feature added since the
    baseline is monitored at once (``insufficient_data`` until a baseline covers it) and a
    removed one leaves; the baseline's views when the registry cannot be read."""
    try:
        return registry_views(settings)
    except PitstopError:
        return dict(baseline.views)


def registry_views(settings: Settings) -> dict[str, ViewSpec]:
    """Every batch feature view of the registry with one join key, read without Feast (the
    registry snapshot of ``pitstop.online.registry``, the API's)."""
    from pitstop.online.registry import open_registry

    return {
        view.name: ViewSpec(
            name=view.name,
            join_key=view.join_keys[0],
            ttl_seconds=view.ttl_seconds,
            features={feature.name: feature.dtype for feature in view.features},
        )
        for view in open_registry(settings)[1].read().views.values()
        if len(view.join_keys) == 1
    }


def create_baseline(
    settings: Settings,
    training_set: Path,
    *,
    views: Mapping[str, ViewSpec] | None = None,
    now: dt.datetime | None = None,
) -> Baseline:
    """Profile ``training_set``'s numeric features and save them as the baseline.

    ``views`` defaults to the registry's (Feast is imported for it). Features of a previous
    baseline that this training set does not have are kept.
    """
    if not training_set.is_file():
        raise MissingInputError(f"no training set at {training_set}")
    specs = dict(views) if views is not None else registry_views(settings)
    source = f"SELECT * FROM read_parquet({literal(training_set)})"
    with spill.connect() as connection:
        try:
            columns = [row[0] for row in connection.execute(f"DESCRIBE {source}").fetchall()]
        except Exception as error:  # DuckDB raises its own error classes for an unreadable file
            raise InvalidInputError(
                f"cannot read the training set {training_set}: {str(error).splitlines()[0]}"
            ) from error
        # Bare feature names (the default) or view__feature (full_feature_names).
        picked: dict[str, dict[str, str]] = {}
        for spec in specs.values():
            for name in spec.numeric_features:
                for column in (name, f"{spec.name}__{name}"):
                    if column in columns:
                        picked.setdefault(spec.name, {})[name] = column
        if not picked:
            raise InvalidInputError(
                f"{training_set} has no numeric feature of the registry's views; "
                "is it a training set written by `pitstop training-set`?"
            )
        renamed = ", ".join(
            f'"{column}" AS "{view}__{name}"'
            for view, features in picked.items()
            for name, column in features.items()
        )
        frame = f"SELECT {renamed} FROM ({source})"
        flat = [f"{view}__{name}" for view, features in picked.items() for name in features]
        bins = cut_points(connection, frame, flat)
        profiles = profile_rows(connection, frame, bins, by_day=False)[None]
    previous = load_baseline(settings) if settings.baseline_path.is_file() else None
    features: dict[str, dict[str, FeatureBaseline]] = (
        {view: dict(items) for view, items in previous.features.items()} if previous else {}
    )
    for view, names in picked.items():
        for name in names:
            key = f"{view}__{name}"
            feature_bins = bins[key]
            if feature_bins is None:
                continue  # every value null: no bins to compare on
            features.setdefault(view, {})[name] = FeatureBaseline(
                bins=feature_bins, profile=profiles[key], source=str(training_set.resolve())
            )
    baseline = Baseline(
        views=specs,
        features=features,
        created_at=(now or dt.datetime.now(dt.timezone.utc)).isoformat(),
    )
    save_baseline(settings, baseline)
    return baseline


def save_baseline(settings: Settings, baseline: Baseline) -> None:
    """Write the baseline atomically (a reader never sees half a file)."""
    path = settings.baseline_path
    path.parent.mkdir(parents=True, exist_ok=True)
    pending = path.with_suffix(".json.pending")
    pending.write_text(json.dumps(baseline.to_json(), indent=1))
    os.replace(pending, path)
