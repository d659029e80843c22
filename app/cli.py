"""The `fleetbed` command."""

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.auth import Mode, Role
from app.core.errors import DomainError
from app.resources import make_engine
from app.settings import Settings

T = TypeVar("T")


async def _in_transaction_async(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    engine = make_engine(settings)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False).begin() as session:
            return await work(session)
    finally:
        await engine.dispose()


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction."""
    return asyncio.run(_in_transaction_async(settings, work))


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.logging_setup import configure_logging
    from app.main import create_app, tune_runtime

    configure_logging(settings.log_level, settings.log_json)
    tune_runtime()
    workers = args.workers or settings.workers
    # Several workers need an importable factory: each process builds its own app.
    target = create_app(settings) if workers == 1 else "app.main:create_app_from_env"
    uvicorn.run(
        target,
        factory=workers > 1,
        host=args.host,
        port=args.port,
        workers=workers,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from app.migrations import upgrade

    upgrade(settings.database_url, args.revision)
    return 0


def _openapi(args: argparse.Namespace, settings: Settings) -> int:
    from app.main import create_app
    from app.openapi_doc import OPENAPI_PATH, render_openapi

    text = render_openapi(create_app(settings))
    if args.check:
        if not OPENAPI_PATH.exists() or OPENAPI_PATH.read_text() != text:
            print(f"{OPENAPI_PATH} is out of date; run 'fleetbed openapi'", file=sys.stderr)
            return 1
        return 0
    OPENAPI_PATH.write_text(text)
    print(f"wrote {OPENAPI_PATH}")
    return 0


def _create_provider(args: argparse.Namespace, settings: Settings) -> int:
    from fleet.tenancy.service import create_provider

    async def work(session: AsyncSession) -> uuid.UUID:
        provider = await create_provider(session, name=args.name, mode=Mode(args.mode))
        return provider.provider_id

    print(_in_transaction(settings, work))
    return 0


def _create_key(args: argparse.Namespace, settings: Settings) -> int:
    from fleet.tenancy.service import IssuedKey, create_key

    async def work(session: AsyncSession) -> IssuedKey:
        return await create_key(
            session, role=Role(args.role), provider_id=args.provider, name=args.name
        )

    issued = _in_transaction(settings, work)
    print(f"key_id: {issued.key_id}", file=sys.stderr)
    print("The key is shown only this once; store it now.", file=sys.stderr)
    print(issued.key)
    return 0


def _revoke_key(args: argparse.Namespace, settings: Settings) -> int:
    from fleet.tenancy.service import revoke_key

    async def work(session: AsyncSession) -> None:
        await revoke_key(session, key_id=args.key_id)

    _in_transaction(settings, work)
    print(f"revoked {args.key_id}")
    return 0


def _rebuild_hotstate(args: argparse.Namespace, settings: Settings) -> int:
    from app.resources import make_redis
    from fleet.live.rebuild import rebuild_all
    from telemetry.hotstate.store import HotState

    async def run() -> dict[uuid.UUID, int]:
        redis = make_redis(settings)
        try:

            async def work(session: AsyncSession) -> dict[uuid.UUID, int]:
                hot = HotState(redis)
                rebuilt = await rebuild_all(session, hot)
                await hot.mark_intact()
                return rebuilt

            return await _in_transaction_async(settings, work)
        finally:
            await redis.aclose()

    rebuilt = asyncio.run(run())
    print(f"rebuilt the live state of {sum(rebuilt.values())} vehicles of {len(rebuilt)} providers")
    return 0


def _maintain(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from telemetry.partitions import PartitionPolicy, maintain_partitions

    policy = PartitionPolicy(
        settings.telemetry.partition_days_ahead, settings.telemetry.retention_days
    )

    async def run() -> tuple[list[object], list[object]]:
        engine = make_engine(settings)
        try:
            created, dropped = await maintain_partitions(engine, policy, datetime.now(UTC).date())
            return list(created), list(dropped)
        finally:
            await engine.dispose()

    created, dropped = asyncio.run(run())
    print(f"partitions created: {len(created)}, dropped: {len(dropped)}")
    return 0


def _import_zones(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime
    from pathlib import Path

    import orjson
    from pydantic import ValidationError

    # Every model, so that the zones' foreign keys resolve when the session flushes.
    import app.models  # noqa: F401
    from app.resources import make_redis
    from app.routers.zones import zone_limits
    from app.zone_sync import announce_change
    from geofencing.schemas import ZoneCreate
    from geofencing.zones import ZoneScope, create_zone

    collection = orjson.loads(Path(args.file).read_bytes())
    features = collection.get("features") if isinstance(collection, dict) else None
    if not isinstance(features, list):
        print("fleetbed: the file must be a GeoJSON FeatureCollection", file=sys.stderr)
        return 2
    try:
        zones = [
            ZoneCreate.model_validate({**(f.get("properties") or {}), "geometry": f["geometry"]})
            for f in features
        ]
    except (ValidationError, KeyError, TypeError) as exc:
        print(f"fleetbed: bad zone in the file: {exc}", file=sys.stderr)
        return 2

    async def work(session: AsyncSession) -> int:
        now = datetime.now(UTC)
        for zone in zones:
            await create_zone(
                session,
                data=zone,
                scope=ZoneScope(None, may_write_citywide=True),
                limits=zone_limits(settings.geofence),
                created_by="cli",
                now=now,
            )
        return len(zones)

    async def run() -> int:
        count = await _in_transaction_async(settings, work)
        redis = make_redis(settings)
        try:
            await announce_change(redis)
        finally:
            await redis.aclose()
        return count

    print(f"published {asyncio.run(run())} zones")
    return 0


def _demo_seed(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime
    from pathlib import Path

    # Every model, so that foreign keys resolve when the session flushes.
    import app.models  # noqa: F401
    from app.resources import make_redis
    from app.routers.zones import zone_limits
    from app.zone_sync import announce_change
    from demo.keys_file import read_keys_file, write_keys_file
    from demo.seed import SeedOutcome, seed_demo

    keys_path = Path(args.keys)
    known = read_keys_file(keys_path)

    async def work(session: AsyncSession) -> SeedOutcome:
        return await seed_demo(
            session,
            vehicles=args.vehicles,
            geodata=Path(args.geodata),
            limits=zone_limits(settings.geofence),
            keys=known,
            now=datetime.now(UTC),
        )

    async def run() -> SeedOutcome:
        outcome = await _in_transaction_async(settings, work)
        if outcome.zones_changed:
            redis = make_redis(settings)
            try:
                await announce_change(redis)
            finally:
                await redis.aclose()
        return outcome

    outcome = asyncio.run(run())
    # Written once the keys are committed; the keys themselves are never printed.
    changed = outcome.keys != known
    if changed:
        write_keys_file(keys_path, outcome.keys)
    print("\n".join(outcome.summary()))
    print(f"keys file: {keys_path} ({'written' if changed else 'unchanged'})")
    return 0


def _demo_run(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from demo.run import run_demo

    return run_demo(
        settings,
        vehicles=args.vehicles,
        speed=args.speed,
        trips_per_day=args.trips_per_day,
        host=args.host,
        port=args.port,
        keys=Path(args.keys),
        mqtt_url=args.mqtt,
    )


class _Progress:
    """Rows written so far, on one line of stderr, at most a few times a second."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.rows = 0
        self._shown = 0.0

    def update(self, rows: int) -> None:
        self.rows = rows
        now = time.monotonic()
        if now - self._shown >= 0.25:
            self._shown = now
            print(f"\r{self.label}: {rows:,} rows", end="", file=sys.stderr, flush=True)

    def done(self, out: str) -> None:
        print(f"\r{self.label}: {self.rows:,} rows written to {out}", file=sys.stderr)


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from app.auditor_reads import read_rules, reader_of
    from app.core.auth import ROLE_SCOPES, Principal
    from fleet.exports.request import Dataset, Format, Privacy
    from fleet.reporting.service import AuditorReads

    # Whoever runs the CLI holds the database credentials: an administrator, audited so.
    principal = Principal("cli", Role.ADMIN, ROLE_SCOPES[Role.ADMIN], None, None)
    out = Path(args.out)
    partial = out.with_name(out.name + ".part")
    progress = _Progress(f"export {args.dataset}")

    async def run() -> None:
        engine = make_engine(settings)
        try:
            sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
            async with sessionmaker() as session:
                reads = AuditorReads(
                    session,
                    reader=reader_of(principal),
                    rules=read_rules(settings),
                    streams=sessionmaker,
                )
                export = await reads.export(
                    Dataset(args.dataset),
                    start=args.start,
                    end=args.end,
                    provider_id=args.provider_id,
                    format=Format(args.format),
                    privacy=Privacy(args.privacy),
                    progress=progress.update,
                )
            with partial.open("wb") as sink:
                async for chunk in export.body:
                    sink.write(chunk)
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
            await engine.dispose()

    asyncio.run(run())
    progress.done(args.out)
    return 0


def _bootstrap(args: argparse.Namespace, settings: Settings) -> int:
    from app.bootstrap import bootstrap

    return bootstrap(settings)


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from demo.simulator.command import Target, simulate
    from demo.simulator.misbehaviour import Rates
    from demo.simulator.rebalancing import VanOptions
    from demo.simulator.runner import RunOptions

    try:
        options = RunOptions(
            seed=args.seed,
            speed=args.speed,
            vehicles=args.vehicles,
            duration_s=args.duration,
            rate=args.rate,
            rates=Rates.parse(args.misbehaviour) if args.misbehaviour else Rates(),
            status_file=Path(args.status_file) if args.status_file else None,
            trips_per_day=args.trips_per_day,
            steady=args.steady,
            commands="mqtt" if args.mqtt else "http",
            mqtt_url=args.mqtt or RunOptions.mqtt_url,
            vans=VanOptions(every_min=args.rebalance_every_min),
        )
        target = Target(args.base_url, Path(args.keys), Path(args.geodata))
        return simulate(options, target)
    except ValueError as exc:
        print(f"fleetbed simulate: {exc}", file=sys.stderr)
        return 2


def _solve_brp(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    import orjson

    from fleet.rebalancing import brp
    from fleet.rebalancing.planner import plan

    try:
        instance = brp.parse(Path(args.file).read_text())
    except (OSError, ValueError) as exc:
        print(f"fleetbed rebalance solve-brp: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    found = plan(brp.to_problem(instance, seconds=args.seconds))
    print(orjson.dumps(brp.result(found, seconds=time.perf_counter() - started)).decode())
    return 0


def _solve_darp(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    import orjson

    from fleet.dispatch import darp
    from fleet.dispatch.model import DispatchError

    try:
        instance = darp.parse(Path(args.file).read_text())
    except (OSError, ValueError, DispatchError) as exc:
        print(f"fleetbed dispatch solve-darp: {exc}", file=sys.stderr)
        return 2
    print(orjson.dumps(darp.solve(instance, seconds=args.seconds)).decode())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    parser = argparse.ArgumentParser(prog="fleetbed", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=int, default=None, help="processes (default: FLEETBED_WORKERS, 1)"
    )
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="upgrade the database schema")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.set_defaults(handler=_migrate)

    openapi = commands.add_parser("openapi", help="write openapi/openapi.json")
    openapi.add_argument("--check", action="store_true", help="fail if the file is stale")
    openapi.set_defaults(handler=_openapi)

    boot = commands.add_parser(
        "bootstrap", help="make PostgreSQL+PostGIS and Redis ready, create and migrate the DB"
    )
    boot.set_defaults(handler=_bootstrap)

    hotstate = commands.add_parser("hotstate", help="the Redis live state").add_subparsers(
        dest="hotstate_command", required=True
    )
    hotstate.add_parser(
        "rebuild", help="rebuild the live state in Redis from PostgreSQL"
    ).set_defaults(handler=_rebuild_hotstate)

    telemetry = commands.add_parser("telemetry", help="telemetry history").add_subparsers(
        dest="telemetry_command", required=True
    )
    telemetry.add_parser(
        "maintain", help="create upcoming daily partitions and drop expired ones"
    ).set_defaults(handler=_maintain)

    zones = commands.add_parser("zones", help="zones").add_subparsers(
        dest="zones_command", required=True
    )
    zone_import = zones.add_parser(
        "import", help="publish every Feature of a GeoJSON FeatureCollection as a zone"
    )
    zone_import.add_argument("file", help="properties: name, kind and the other zone fields")
    zone_import.set_defaults(handler=_import_zones)

    from demo.city import DEMO_TRIPS_PER_DAY, GEODATA
    from demo.keys_file import DEFAULT_KEYS_PATH

    demo = commands.add_parser("demo", help="the Helsingborg demo city").add_subparsers(
        dest="demo_command", required=True
    )
    demo_seed = demo.add_parser(
        "seed", help="create what is missing of the demo city: providers, keys, fleet, zones"
    )
    demo_seed.add_argument("--vehicles", type=int, default=300)
    demo_seed.add_argument(
        "--keys", default=str(DEFAULT_KEYS_PATH), help="the keys file to keep (0600)"
    )
    demo_seed.add_argument(
        "--geodata", default=str(GEODATA), help="municipality outlines (Helsingborg's is used)"
    )
    demo_seed.set_defaults(handler=_demo_seed)

    demo_run = demo.add_parser(
        "run", help="seed, serve and drive a simulated fleet, with a live summary (make run)"
    )
    demo_run.add_argument("--vehicles", type=int, default=300)
    demo_run.add_argument("--speed", type=float, default=10.0, help="times real time")
    demo_run.add_argument(
        "--trips-per-day",
        type=float,
        default=DEMO_TRIPS_PER_DAY,
        help="trips per vehicle and day: the demo's fleet is busier than a real one, so "
        "there is something to watch at any hour (default: %(default)s)",
    )
    demo_run.add_argument("--host", default="127.0.0.1")
    demo_run.add_argument("--port", type=int, default=8000)
    demo_run.add_argument("--keys", default=str(DEFAULT_KEYS_PATH), help="the demo's keys file")
    demo_run.add_argument(
        "--mqtt",
        nargs="?",
        const="mqtt://127.0.0.1:1883",
        default=None,
        metavar="URL",
        help="vehicle commands through this MQTT broker (default URL: %(const)s): the server "
        "publishes them, the simulated gateways take and ack them there",
    )
    demo_run.set_defaults(handler=_demo_run)

    admin = commands.add_parser("admin", help="providers and keys").add_subparsers(
        dest="admin_command", required=True
    )
    provider = admin.add_parser("create-provider", help="register an operator")
    provider.add_argument("--name", required=True)
    provider.add_argument("--mode", choices=[m.value for m in Mode], default="micromobility")
    provider.set_defaults(handler=_create_provider)

    key = admin.add_parser("create-key", help="issue an API key (printed once)")
    key.add_argument("--provider", type=uuid.UUID, default=None)
    key.add_argument("--role", choices=[r.value for r in Role], required=True)
    key.add_argument("--name", default=None)
    key.set_defaults(handler=_create_key)

    revoke = admin.add_parser("revoke-key", help="revoke an API key")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=_revoke_key)

    from fleet.exports.request import Dataset, Format, Privacy

    export = commands.add_parser(
        "export", help="export trips, events or vehicle status to a file (as the API does)"
    )
    export.add_argument("dataset", choices=[d.value for d in Dataset])
    export.add_argument(
        "--from", dest="start", required=True, help="RFC 3339 with offset, included"
    )
    export.add_argument("--to", dest="end", required=True, help="RFC 3339 with offset, excluded")
    export.add_argument("--format", choices=[f.value for f in Format], default=Format.CSV.value)
    export.add_argument("--privacy", choices=[p.value for p in Privacy], default=Privacy.OPEN.value)
    export.add_argument("--provider-id", type=uuid.UUID, default=None)
    export.add_argument("--out", required=True, help="file to write")
    export.set_defaults(handler=_export)

    from demo.simulator.arguments import SIMULATE_HELP, add_simulate_arguments

    simulate = commands.add_parser(
        "simulate",
        help="drive a simulated Helsingborg fleet through a running fleetbed (MDS Agency)",
        description=SIMULATE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_simulate_arguments(simulate)
    simulate.set_defaults(handler=_simulate)

    rebalance = commands.add_parser("rebalance", help="rebalancing van routes").add_subparsers(
        dest="rebalance_command", required=True
    )
    solve_brp = rebalance.add_parser(
        "solve-brp",
        help="plan a bike-sharing rebalancing benchmark instance (Dell'Amico format) and "
        "print one JSON line: cost, routes, seconds",
    )
    solve_brp.add_argument("file", help="the instance file")
    solve_brp.add_argument(
        "--seconds", type=float, default=5.0, help="search time (default: %(default)s)"
    )
    solve_brp.set_defaults(handler=_solve_brp)

    dispatch = commands.add_parser("dispatch", help="pod dispatch").add_subparsers(
        dest="dispatch_command", required=True
    )
    solve_darp = dispatch.add_parser(
        "solve-darp",
        help="plan a dial-a-ride benchmark instance (Cordeau format) and print one JSON "
        "line: cost, feasible, routes, seconds",
    )
    solve_darp.add_argument("file", help="the instance file")
    solve_darp.add_argument(
        "--seconds", type=float, default=10.0, help="search time (default: %(default)s)"
    )
    solve_darp.set_defaults(handler=_solve_darp)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `fleetbed` console script."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args, Settings())
    except DomainError as exc:
        print(f"fleetbed: {exc.detail}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
