"""The ``pitstop`` command line: fast help, one-line errors, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PITSTOP = [sys.executable, "-m", "pitstop.cli"]
ALL_COMMANDS = (
    "generate",
    "build",
    "apply",
    "materialize",
    "serve",
    "training-set",
    "run",
    "demo",
)


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
        "for flag in ('--version', '--help'):\n"
        "    try:\n        main([flag])\n    except SystemExit:\n        pass\n"
        "heavy = [m for m in ('feast', 'dbt', 'duckdb', 'pandas', 'pyarrow') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    for command in ALL_COMMANDS:
        assert f"    {command} " in result.stdout or f"    {command}\n" in result.stdout, command
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


def _assert_one_line_saying(result: subprocess.CompletedProcess[str], step: str) -> None:
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"run `pitstop {step}` first" in result.stderr
    assert "Traceback" not in result.stderr


def test_apply_before_build_says_what_to_run(tmp_path: Path) -> None:
    _assert_one_line_saying(_run("apply", "--data-dir", str(tmp_path)), "build")


def test_materialize_before_apply_says_what_to_run(tmp_path: Path) -> None:
    features = tmp_path / "features"
    features.mkdir()
    for table in ("user_activity", "user_profile", "item_popularity"):
        (features / table).mkdir()
        (features / table / "_schema.parquet").touch()  # only their presence is checked first
    _assert_one_line_saying(_run("materialize", "--data-dir", str(tmp_path)), "apply")


def test_training_set_before_build_says_what_to_run(tmp_path: Path) -> None:
    entities = tmp_path / "entities.csv"
    entities.write_text("user_id,event_timestamp\n1,2026-03-01T00:00:00Z\n")
    result = _run(
        "training-set",
        "--data-dir",
        str(tmp_path / "data"),
        "--feature-service",
        "churn_v1",
        "--entities",
        str(entities),
        "--out",
        str(tmp_path / "out.parquet"),
    )
    _assert_one_line_saying(result, "build")


def test_serve_and_run_before_their_inputs_say_what_to_run(tmp_path: Path) -> None:
    _assert_one_line_saying(_run("serve", "--data-dir", str(tmp_path)), "build")
    _assert_one_line_saying(_run("run", "--data-dir", str(tmp_path)), "generate")


def test_serve_refuses_a_bad_port(tmp_path: Path) -> None:
    result = _run("serve", "--data-dir", str(tmp_path), "--port", "70000")
    assert result.returncode == 2 and "port" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_is_the_installed_package_version() -> None:
    import tomllib

    declared = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    result = _run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"pitstop {declared['project']['version']}"


def test_the_package_declares_its_type_hints() -> None:
    """PEP 561: a py.typed marker in the package, and listed as package data so a wheel has it."""
    from importlib.resources import files

    import tomllib

    assert files("pitstop").joinpath("py.typed").is_file()
    declared = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert "py.typed" in declared["tool"]["setuptools"]["package-data"]["pitstop"]
