"""A synthetic raw event log: the input of the pipeline, with the faults of a real feed.

    from pitstop import Settings
    from pitstop.generator import generate_events

    report = generate_events(Settings.from_env(), users=10_000, days=30, seed=7)

Users sign up over the period, browse, search, cart, buy and refund in sessions, and some fade
out and churn; a share of the lines is malformed, duplicated or late. The files follow the
input contract of docs/architecture.md §2; :mod:`pitstop.generator.faults` lists the exact
faulty shapes.
"""

from pitstop.generator.append import append_day
from pitstop.generator.report import GenerationReport
from pitstop.generator.run import generate_events

__all__ = ["GenerationReport", "append_day", "generate_events"]
