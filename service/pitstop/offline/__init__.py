"""Offline: training sets (a point-in-time join through Feast), pitstop's ASOF offline store
that Feast calls (``pitstop.offline.store``) and the leakage audit of a training set
(docs/architecture.md, Layout)."""

from pitstop.offline.spine import TimeRange
from pitstop.offline.training import TrainingSetReport, build_training_set

__all__ = ["TimeRange", "TrainingSetReport", "build_training_set"]
