"""CPU time of processes and of the machine, read from /proc (no extra dependency)."""

import os
import threading
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name, or None if the process is gone."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses; it ends at the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def process_cpu(pid: int, *, reaped_children: bool = False) -> float:
    """User+system CPU seconds of a process (all threads); 0.0 when it is gone.

    With `reaped_children`, add what its exited and reaped children used, so that a
    worker process ending during a measurement does not take its time with it.
    """
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # After the name: state=0, ppid=1, ..., utime=11, stime=12, cutime=13, cstime=14.
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def _comm(pid_dir: Path) -> str | None:
    try:
        return (pid_dir / "comm").read_text().strip()
    except OSError:
        return None


def pids_named(name: str) -> list[int]:
    """Pids of the processes whose command name is `name`."""
    return [
        int(entry.name)
        for entry in _PROC.iterdir()
        if entry.name.isdigit() and _comm(entry) == name
    ]


def _parent(pid: int) -> int:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else 0


def descendants(root: int) -> list[int]:
    """Children, grandchildren... of a process (e.g. a server's worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            children.setdefault(_parent(int(entry.name)), []).append(int(entry.name))
    found, todo = [], [root]
    # Bounded by the number of processes: each pid has one parent.
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and all its descendants, living or reaped."""
    pids = [root, *descendants(root)]
    return sum(process_cpu(pid, reaped_children=True) for pid in pids)


def group_cpu(name: str) -> float:
    """CPU seconds of every process called `name`, plus what its roots reaped."""
    pids = set(pids_named(name))
    return sum(process_cpu(pid, reaped_children=_parent(pid) not in pids) for pid in pids)


@dataclass(frozen=True)
class MachineCpu:
    """Cumulative busy and total CPU seconds of all cores (from /proc/stat)."""

    busy: float
    total: float


def machine_cpu() -> MachineCpu:
    """The machine's CPU counters now."""
    first = (_PROC / "stat").read_text().splitlines()[0].split()
    ticks = [int(value) for value in first[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guests are in user.
    total = sum(ticks[:8])
    idle = ticks[3] + ticks[4]
    return MachineCpu(busy=(total - idle) / _TICK, total=total / _TICK)


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far by the server, Redis and the machine."""

    server: float
    redis: float
    machine: MachineCpu


def sample(server_pid: int) -> CpuSample:
    """Read every counter once."""
    return CpuSample(
        server=tree_cpu(server_pid),
        redis=group_cpu("redis-server"),
        machine=machine_cpu(),
    )


def _title(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace").split()


def serves(title: list[str], database: str) -> bool:
    """Whether a PostgreSQL process (by its title) works for `database` or for all.

    Backends show `user database host(port) activity` and autovacuum workers the database
    they clean; everything else (postmaster, checkpointer, WAL writer...) is shared.
    """
    is_backend = any(word.endswith(")") and "(" in word for word in title)
    is_worker = "autovacuum" in title and "worker" in title
    return database in title if is_backend or is_worker else True


class PostgresMeter:
    """CPU of the PostgreSQL processes serving one database, polled from /proc.

    Polling sees backends that live shorter than a phase (a pool's overflow connections),
    whose time a before/after reading would miss; at most one interval of it is lost.
    """

    def __init__(self, database: str, interval_s: float = 0.1) -> None:
        self.database = database
        self.interval_s = interval_s
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _poll(self, *, initial: bool = False) -> None:
        for pid in pids_named("postgres"):
            title = _title(pid)
            if title is None or not serves(title, self.database):
                continue
            cpu = process_cpu(pid)
            # Processes born after the start used all their time within the phase.
            self._first.setdefault(pid, cpu if initial else 0.0)
            self._last[pid] = cpu

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._poll()

    def start(self) -> None:
        """Take the starting reading and begin polling."""
        self._poll(initial=True)
        self._thread.start()

    def stop(self) -> float:
        """Stop polling; CPU seconds used since `start`."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=5)
        self._poll()
        return sum(self._last[pid] - first for pid, first in self._first.items())
