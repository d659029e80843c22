"""The package layout: the demo and the simulator are clients of the API, not its parts.

The server's packages never import `demo` (only the CLI entry point may, inside its demo
and simulate commands). `demo.simulator` talks to the server over HTTP only, so it
imports nothing of the project but `demo` and the shared kernel `app.core` (wire
constants, modes, vehicle types). The rest of `demo` (seed, summary, run) works like an
operator's admin tool: it may use the domain services and the settings, never the
server's HTTP layer (`app.main`, `app.routers`, `app.deps`, ...).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("app", "fleet", "telemetry", "geofencing", "demo")
SERVER = ("app", "fleet", "telemetry", "geofencing")
CLI_ENTRY_POINT = Path("app/cli.py")
SIMULATOR_MAY_IMPORT = ("demo", "app.core")
DEMO_MAY_IMPORT = ("demo", "app.core", "app.settings", "app.resources", "fleet", "geofencing")


def module_name(path: Path) -> str:
    """`demo/simulator/world.py` → `demo.simulator.world`; a package is its folder."""
    parts = path.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, *, is_package: bool) -> set[str]:
    """Every module `source` imports, at the top or inside a function; relative ones
    resolved against `module`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            # `from demo import city` imports the module `demo.city`.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in prefixes)


def project_imports(path: Path) -> set[str]:
    """The project modules and packages a file imports."""
    relative = path.relative_to(ROOT)
    names = imported_modules(
        path.read_text(), module_name(relative), is_package=path.name == "__init__.py"
    )
    return {n for n in names if within(n, PROJECT)}


def sources(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


SERVER_FILES = [p for p in sources(*SERVER) if p.relative_to(ROOT) != CLI_ENTRY_POINT]
SIMULATOR_FILES = sources("demo/simulator")
DEMO_FILES = [p for p in sources("demo") if p not in SIMULATOR_FILES]


def test_imports_are_found_wherever_and_however_they_are_written() -> None:
    source = (
        "import demo.city\n"
        "from demo import seed\n"
        "from . import paths\n"
        "from .batches import Outbox\n"
        "def later():\n"
        "    from fleet.vehicles.service import register_vehicles\n"
    )
    found = imported_modules(source, "demo.simulator.world", is_package=False)
    assert {
        "demo.city",
        "demo.seed",
        "demo.simulator.paths",
        "demo.simulator.batches",
        "fleet.vehicles.service",
    } <= found
    package = imported_modules("from . import city", "demo", is_package=True)
    assert "demo.city" in package


@pytest.mark.parametrize("path", SERVER_FILES, ids=ids(SERVER_FILES))
def test_the_server_never_imports_the_demo(path: Path) -> None:
    assert not {n for n in project_imports(path) if within(n, ("demo",))}


@pytest.mark.parametrize("path", SIMULATOR_FILES, ids=ids(SIMULATOR_FILES))
def test_the_simulator_imports_only_the_demo_and_the_shared_kernel(path: Path) -> None:
    assert not {n for n in project_imports(path) if not within(n, SIMULATOR_MAY_IMPORT)}


@pytest.mark.parametrize("path", DEMO_FILES, ids=ids(DEMO_FILES))
def test_the_demo_uses_services_never_the_servers_http_layer(path: Path) -> None:
    assert not {n for n in project_imports(path) if not within(n, DEMO_MAY_IMPORT)}


def test_the_file_lists_are_not_empty() -> None:
    # A moved or renamed package would otherwise leave the tests above with nothing to check.
    assert len(SERVER_FILES) > 50
    assert {"runner.py", "gateway.py", "world.py"} <= {p.name for p in SIMULATOR_FILES}
    assert {"seed.py", "run.py", "city.py"} <= {p.name for p in DEMO_FILES}


def test_building_the_app_loads_no_demo_module() -> None:
    probe = (
        "import sys\n"
        "from app.main import create_app\n"
        "from app.settings import Settings\n"
        "create_app(Settings())\n"
        "print(sorted(m for m in sys.modules if m == 'demo' or m.startswith('demo.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
