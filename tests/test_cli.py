"""The ``pitstop`` command line: fast help, one-line errors, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PITSTOP = [sys.executable, "-m", "pitstop.cli"]


def _run(*args: str, env_data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ)
    env.pop("PITSTOP_DATA_DIR", None)
    if env_data_dir is not None:
        env["PITSTOP_DATA_DIR"] = str(env_data_dir)
    return subprocess.run([*PITSTOP, *args], capture_output=True, text=True, env=env, timeout=120)


def test_help_does_not_import_the_heavy_stack() -> None:
    probe = (
        "import sys; from pitstop.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('feast', 'dbt', 'duckdb', 'pandas', 'pyarrow') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert "generate" in result.stdout and "build" in result.stdout
    assert "HEAVY []" in result.stdout


def test_build_before_generate_says_what_to_run_in_one_line(tmp_path: Path) -> None:
    result = _run("build", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "run `pitstop generate` first" in result.stderr
    assert "Traceback" not in result.stderr


def test_data_dir_comes_from_the_environment(tmp_path: Path) -> None:
    result = _run("build", env_data_dir=tmp_path)
    assert str(tmp_path) in result.stderr


def test_bad_arguments_are_refused_without_a_stack_trace(tmp_path: Path) -> None:
    for args in (["--users", "0"], ["--start", "yesterday"], ["--dirty-rate", "0.9"]):
        result = _run("generate", "--data-dir", str(tmp_path), *args)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stderr.strip(), args
