"""Leakage audit: source timestamps carried in the training set and checked row by row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pitstop.cli import main
from pitstop.settings import Settings
from tests import trap_log
from tests.offline.test_training import _entity_frame


@pytest.fixture()
def audited(trap_store: Settings, tmp_path: Path) -> tuple[Path, list[str]]:
    entities = tmp_path / "entities.parquet"
    _entity_frame().to_parquet(entities, index=False)
    out = tmp_path / "set.parquet"
    args = ["--data-dir", str(trap_store.data_dir)]
    code = main(
        ["training-set", *args, "--feature-service", "ranking_v1", "--entities", str(entities)]
        + ["--out", str(out), "--audit"]
    )
    assert code == 0
    return out, args


def test_clean_training_set_passes(
    audited: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    out, args = audited
    frame = pd.read_parquet(out)
    views = ["user_activity", "user_profile", "item_popularity"]
    for view in views:
        column = frame[f"{view}__event_timestamp"]
        assert column.notna().any()
        assert (column.dropna() <= frame.loc[column.notna(), "event_timestamp"]).all()
    # Right at a snapshot the row sees it; a microsecond before, it does not.
    at = frame[frame["case"] == "midnight_at_T"]["user_activity__event_timestamp"].iloc[0]
    assert str(at) == "2026-03-11 00:00:00+00:00"
    capsys.readouterr()
    assert main(["audit", *args, str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1 and printed[0].startswith("audit passed: 0 violation(s)")


def test_tampered_training_set_fails(
    audited: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, args = audited
    frame = pd.read_parquet(out)
    row = int(frame.index[frame["case"] == "edge_first_T"][0])
    frame.loc[row, "user_profile__event_timestamp"] = frame.loc[
        row, "event_timestamp"
    ] + pd.Timedelta(seconds=1)
    # A row asked for after the tables went stale (coverage + 2 days) that still has values.
    stale = int(frame.index[frame["case"] == "sessions_05"][0])
    frame.loc[stale, "event_timestamp"] = pd.Timestamp(trap_log.COVERAGE_END) + pd.Timedelta(
        days=2, seconds=1
    )
    valued = [
        view
        for view in ("item_popularity", "user_activity", "user_profile")
        if pd.notna(frame.loc[stale, f"{view}__event_timestamp"])
    ]
    assert "user_activity" in valued
    tampered = tmp_path / "tampered.parquet"
    frame.to_parquet(tampered, index=False)
    capsys.readouterr()
    assert main(["audit", *args, str(tampered)]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 + len(valued), printed
    assert printed[0].startswith(f"row {min(row, stale)}: ")
    leak = next(line for line in printed if "user_profile__event_timestamp" in line)
    assert "after the row's event_timestamp" in leak and "case=edge_first_T" in leak
    old = next(line for line in printed if "user_activity__event_timestamp" in line)
    assert "stale from 2026-04-23 00:00:00+0000" in old and "case=sessions_05" in old
    assert printed[-1].startswith(f"audit FAILED: {1 + len(valued)} violation(s)")


def test_audit_without_source_timestamps_is_one_line(
    trap_store: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plain.parquet"
    _entity_frame().to_parquet(path, index=False)
    assert main(["audit", "--data-dir", str(trap_store.data_dir), str(path)]) != 0
    err = capsys.readouterr().err
    assert "--with-source-timestamps" in err and err.count("\n") == 1
