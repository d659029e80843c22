"""`fleetbed dispatch solve-darp`: one JSON line per benchmark instance, from the planner."""

import json
import subprocess
from pathlib import Path

import pytest

from tests.processes import fleetbed
from tests.unit.test_brp import benchmarks_dir
from tests.unit.test_dispatch_darp import BEST_KNOWN, TINY


def solve_darp(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return fleetbed("dispatch", "solve-darp", str(path), *extra)


def test_an_instance_is_answered_with_one_json_line(tmp_path: Path) -> None:
    instance = tmp_path / "tiny.txt"
    instance.write_text(TINY)
    result = solve_darp(instance, "--seconds", "0.5")
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    answer = json.loads(line)
    assert answer.keys() == {"cost", "feasible", "routes", "seconds"}
    assert answer["feasible"] is True
    assert all(route[0] == 0 and route[-1] == 0 for route in answer["routes"])
    assert isinstance(answer["seconds"], float)


def test_a_shared_instance_is_solved_within_one_percent_of_the_best_known() -> None:
    path = benchmarks_dir() / "darp" / "a2-16.txt"
    if not path.is_file():
        pytest.skip(f"DARP instance not found at {path}; set FLEETBED_BENCHMARKS_DIR")
    result = solve_darp(path, "--seconds", "3")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["feasible"] is True
    assert answer["cost"] <= BEST_KNOWN["a2-16"] * 1.01


def test_a_malformed_or_missing_file_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.txt"
    broken.write_text("2 16\n0 0 0")
    for path in (broken, tmp_path / "missing.txt"):
        result = solve_darp(path)
        assert result.returncode == 2
        assert result.stdout == ""
        assert "solve-darp" in result.stderr
