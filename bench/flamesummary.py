"""Summarise a py-spy `--format raw` profile: where the samples' time went.

Run as `python -m bench.flamesummary PROFILE [--top N]`. Each line of the profile is a
`;`-joined stack (outermost first, frames as `function (file:line)`) and a sample count.
"""

import argparse
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
# First matching prefix of the leaf frame's file names the layer it belongs to.
_LAYERS = (
    ("fleetbed", ("app/", "fleet/", "telemetry/", "geofencing/")),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("asyncpg", ("asyncpg/",)),
    ("sqlalchemy", ("sqlalchemy/",)),
    ("redis-py", ("redis/",)),
    ("uvicorn / httptools", ("uvicorn/", "httptools/")),
    ("starlette / fastapi", ("starlette/", "fastapi/")),
    ("asyncio / uvloop", ("asyncio/", "uvloop/")),
    ("h3", ("h3/",)),
    ("logging / prometheus", ("logging/", "prometheus_client/")),
)


@dataclass(frozen=True)
class Profile:
    """Stacks (outermost first, `function (file)`) with their sample counts."""

    stacks: Counter[tuple[str, ...]]

    @property
    def total(self) -> int:
        """All samples."""
        return sum(self.stacks.values())


def _frame(raw: str) -> str:
    if raw.startswith("process "):
        # --subprocesses roots every stack in its process; alone, no Python code ran.
        return "(process root, no Python frame)"
    match = _FRAME.match(raw.strip())
    if match is None:
        return raw.strip()
    return f"{match['func']} ({match['file']})"


def load(path: Path) -> Profile:
    """Read a raw profile, folding line numbers so a function is one entry."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(_frame(f) for f in stack.split(";"))] += int(count)
    return Profile(stacks)


def self_time(profile: Profile) -> Counter[str]:
    """Samples whose innermost Python frame is the function (C callees included)."""
    out: Counter[str] = Counter()
    for stack, count in profile.stacks.items():
        out[stack[-1]] += count
    return out


def inclusive_time(profile: Profile) -> Counter[str]:
    """Samples with the function anywhere on the stack (recursion counted once)."""
    out: Counter[str] = Counter()
    for stack, count in profile.stacks.items():
        for frame in set(stack):
            out[frame] += count
    return out


def layer(frame: str) -> str:
    """The library or part of fleetbed a frame belongs to."""
    file = frame.rpartition("(")[2]
    for name, prefixes in _LAYERS:
        # py-spy shows paths relative to their package root, e.g. `fleet/ingest/x.py`.
        if file.startswith(prefixes):
            return name
    return "other"


def by_layer(profile: Profile) -> Counter[str]:
    """Self time grouped by layer."""
    out: Counter[str] = Counter()
    for frame, count in self_time(profile).items():
        out[layer(frame)] += count
    return out


def _lines(title: str, counts: Counter[str], total: int, top: int) -> list[str]:
    lines = [title]
    for name, count in counts.most_common(top):
        lines.append(f"  {100 * count / total:5.1f} %  {name}")
    return lines


def summary(profile: Profile, top: int) -> str:
    """Self time by layer and by function, and inclusive time of fleetbed's functions."""
    total = profile.total or 1
    ours = Counter({f: c for f, c in inclusive_time(profile).items() if layer(f) == "fleetbed"})
    lines = [f"{profile.total} on-CPU samples (100 per second of busy thread)"]
    lines += _lines("self time by layer:", by_layer(profile), total, top)
    lines += _lines("self time by function:", self_time(profile), total, top)
    lines += _lines("inclusive time, fleetbed functions:", ours, total, top)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the summary of one profile."""
    parser = argparse.ArgumentParser(prog="python -m bench.flamesummary", description=__doc__)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)
    print(summary(load(args.profile), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
