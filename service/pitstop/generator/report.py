"""What a generation run produced, for the CLI to print and for tests to check against the files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pitstop.generator.faults import INVALID_KINDS


@dataclass(frozen=True)
class GenerationReport:
    """The counts of one :func:`~pitstop.generator.generate_events` run.

    ``faults`` has every kind of :data:`pitstop.generator.faults.FAULT_KINDS`, zero or not:
    invalid kinds count lines, ``duplicate_delivery`` counts extra copies, ``late_arrival``,
    ``mixed_offset`` (a non-zero UTC offset) and ``no_offset`` count clean events. The log
    always satisfies ``lines_written == clean_events + duplicate_delivery + invalid_lines``.
    """

    start: date
    """The first event day."""
    end: date
    """The last event day; also the last arrival partition."""
    users: int
    items: int
    seed: int
    dirty_rate: float
    lines_written: int
    clean_events: int
    """Distinct valid events (distinct event_id values of valid lines)."""
    faults: dict[str, int]
    files: list[Path]
    seconds: float

    @property
    def invalid_lines(self) -> int:
        """Lines that break a rule of the input contract (the quarantine's share)."""
        return sum(self.faults[kind] for kind in INVALID_KINDS)

    def __repr__(self) -> str:
        return (
            f"GenerationReport(start={self.start}, end={self.end}, users={self.users}, "
            f"lines_written={self.lines_written}, clean_events={self.clean_events}, "
            f"duplicates={self.faults.get('duplicate_delivery', 0)}, "
            f"invalid_lines={self.invalid_lines}, files={len(self.files)}, "
            f"seconds={self.seconds:.1f})"
        )
