"""pitstop.progress: the rows bar and the stage lines of long commands (on stderr)."""

from __future__ import annotations

import sys

import pytest

from pitstop.progress import Progress, stage


def test_stages_go_to_a_terminal_only(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stage("monitor", "dbt source freshness", enabled=True)  # a pipe: its errors stay one line
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    stage("monitor", "dbt source freshness", enabled=True)
    stage("monitor", "quiet", enabled=False)  # -q
    assert capsys.readouterr().err == "pitstop monitor: dbt source freshness...\n"


def test_the_bar_counts_rows(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress("training-set churn_v1", 2_000, enabled=True) as bar:
        bar.advance(1_500)
        bar.advance(500)
    assert "training-set churn_v1: 100%" in capsys.readouterr().err
    with Progress("nothing", 2_000, enabled=False) as bar:
        bar.advance(2_000)
    assert capsys.readouterr().err == ""
