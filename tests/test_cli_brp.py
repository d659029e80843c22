"""`fleetbed rebalance solve-brp`: one JSON line per benchmark instance, from the planner."""

import json
import subprocess
from pathlib import Path

from tests.processes import fleetbed
from tests.unit.test_brp import PUBLISHED_OPTIMA, TEXT, TEXT_OPTIMUM, brp_file


def solve_brp(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return fleetbed("rebalance", "solve-brp", str(path), *extra)


def test_an_instance_is_answered_with_one_json_line(tmp_path: Path) -> None:
    instance = tmp_path / "three.txt"
    instance.write_text(TEXT)
    result = solve_brp(instance, "--seconds", "0.5")
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    answer = json.loads(line)
    assert answer.keys() == {"cost", "routes", "seconds"}
    assert {"cost": answer["cost"], "routes": answer["routes"]} == TEXT_OPTIMUM
    assert isinstance(answer["seconds"], float)


def test_a_shared_instance_is_solved_to_its_published_optimum() -> None:
    result = solve_brp(brp_file("parma8.txt"), "--seconds", "1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cost"] == PUBLISHED_OPTIMA["parma8.txt"]


def test_a_malformed_or_missing_file_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.txt"
    broken.write_text("3\n0 1")
    for path in (broken, tmp_path / "missing.txt"):
        result = solve_brp(path)
        assert result.returncode == 2
        assert result.stdout == ""
        assert "solve-brp" in result.stderr
