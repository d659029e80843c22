"""The pure parts of the GBFS feeds: public ids, vehicle types, who is listed, hubs,
alerts, and the cache's single build."""

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from shapely.geometry import MultiPolygon, box

from fleet.gbfs import feeds
from fleet.gbfs.cache import FeedCache
from fleet.gbfs.feeds import Closure, Hub, Parked, SystemView
from fleet.gbfs.ids import public_vehicle_id
from fleet.gbfs.schemas import GbfsSystemBody
from fleet.gbfs.service import default_system_id
from fleet.gbfs.vehicle_types import gbfs_type, max_range_m, vehicle_type_record
from telemetry.hotstate.store import LiveVehicle

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
DEVICE = "0a416070-5986-4efa-becb-7bf1af8a0556"


def live(state: str | None = "available", **fields: object) -> LiveVehicle:
    values: dict[str, object] = {
        "device_id": DEVICE,
        "lat": 56.0465,
        "lng": 12.6945,
        "ts_ms": NOW_MS - 60_000,
        "battery": 80,
        "speed": 0.0,
        "state": state,
        "state_ts_ms": NOW_MS - 120_000,
        "vehicle_type": "scooter_standing",
        "cell8": None,
    }
    values.update(fields)
    return LiveVehicle(**values)  # type: ignore[arg-type]


def system(**settings: object) -> SystemView:
    return SystemView(
        provider_id="p",
        system_id="s",
        provider_name="Operator",
        body=GbfsSystemBody.model_validate(settings),
        languages=("sv", "en"),
        feed_contact_email="a@b.example",
        timezone="Europe/Stockholm",
        secret=b"k" * 32,
    )


def test_a_public_id_changes_with_each_trip_and_with_the_secret_only() -> None:
    first = public_vehicle_id(b"a" * 32, DEVICE, None)
    assert first == public_vehicle_id(b"a" * 32, DEVICE, None)
    ids = {first, public_vehicle_id(b"a" * 32, DEVICE, 1), public_vehicle_id(b"a" * 32, DEVICE, 2)}
    assert len(ids) == 3
    assert public_vehicle_id(b"b" * 32, DEVICE, None) != first
    assert DEVICE not in first
    assert len(first) == 36


def test_vehicle_types_follow_the_motor_and_the_form_factor() -> None:
    assert gbfs_type("bicycle", ["human", "electric_assist"]).propulsion_type == "electric_assist"
    assert gbfs_type("bicycle", ["human"]).motorised is False
    assert gbfs_type("scooter_standing", ["electric"]).form_factor == "scooter_standing"
    assert gbfs_type("delivery_robot", ["electric"]).form_factor == "other"
    human = vehicle_type_record(gbfs_type("bicycle", []), None, ["sv", "en"], None)
    assert "max_range_meters" not in human
    assert [n["text"] for n in human["name"]] == ["Cykel", "Bicycle"]
    moped = gbfs_type("moped", ["electric"])
    assert max_range_m(moped, None) > 0
    record = vehicle_type_record(moped, None, ["de"], "plan")
    assert record["name"] == [{"text": "Moped", "language": "de"}]  # English elsewhere
    assert record["default_pricing_plan_id"] == "plan"


@pytest.mark.parametrize(
    ("vehicle", "shown"),
    [
        (live("available"), True),
        (live("reserved"), True),
        (live("on_trip"), False),
        (live("stopped"), False),
        (live("non_operational"), False),
        (live("removed"), False),
        (live(None), False),
        (live("available", lat=None, lng=None), False),
        (live("available", ts_ms=NOW_MS - 7_200_000, state_ts_ms=NOW_MS - 7_200_000), False),
        (live("available", ts_ms=NOW_MS - 7_200_000, state_ts_ms=NOW_MS - 60_000), True),
    ],
)
def test_only_rentable_vehicles_heard_of_lately_are_listed(
    vehicle: LiveVehicle, shown: bool
) -> None:
    assert feeds.listed(vehicle, now_ms=NOW_MS, stale_ms=3_600_000) is shown


def test_a_vehicle_record_never_names_the_device_and_rounds_its_place() -> None:
    kind = gbfs_type("scooter_standing", ["electric"])
    item = Parked(live(lat=56.04651234567, battery=150), kind, "hub")
    view = system(rental_uris={"web": "https://x.example/{vehicle_id}?a=1"})
    record = feeds.vehicle_record(item, view, 40_000.0)
    assert DEVICE not in str(record)
    assert record["lat"] == 56.046512
    assert record["current_fuel_percent"] == 1.0  # a battery over 100 % is capped
    assert record["current_range_meters"] == 40_000.0
    assert record["rental_uris"] == {"web": f"https://x.example/{record['vehicle_id']}?a=1"}
    assert record["station_id"] == "hub"
    assert record["last_reported"] == "2026-12-07T11:59:00Z"


def test_hubs_hold_points_inside_them_the_first_one_winning() -> None:
    a = Hub("a", "A", MultiPolygon([box(12.0, 56.0, 12.1, 56.1)]), ())
    b = Hub("b", "B", MultiPolygon([box(12.05, 56.0, 12.2, 56.1)]), ())
    lats, lngs = np.array([56.05, 56.05, 56.05, 57.0]), np.array([12.02, 12.07, 12.15, 12.0])
    assert feeds.hubs_at([a, b], lats, lngs) == ["a", "a", "b", None]


def test_station_status_counts_available_vehicles_per_type_only() -> None:
    hub = Hub("h", "Hub", MultiPolygon([box(12.0, 56.0, 12.1, 56.1)]), ("bicycle_human",))
    kind = gbfs_type("scooter_standing", ["electric"])
    items = [
        Parked(live(), kind, "h"),
        Parked(live(ts_ms=NOW_MS - 1_000), kind, "h"),
        Parked(live("reserved"), kind, "h"),
        Parked(live(), kind, None),
    ]
    (status,) = feeds.station_status_data([hub], items, now=NOW)["stations"]
    assert status["num_vehicles_available"] == 2
    assert status["vehicle_types_available"] == [
        {"vehicle_type_id": "bicycle_human", "count": 0},
        {"vehicle_type_id": "scooter_standing_electric", "count": 2},
    ]
    assert status["last_reported"] == "2026-12-07T11:59:59Z"


def test_alerts_drop_those_over_and_translate_closures() -> None:
    texts = [{"text": "x", "language": "sv"}, {"text": "x", "language": "en"}]
    view = system(
        alerts=[
            {
                "alert_id": "over",
                "summary": texts,
                "times": [{"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}],
            },
            {
                "alert_id": "open",
                "summary": texts,
                "times": [{"start": "2026-01-01T00:00:00+01:00"}],
            },
            {"alert_id": "always", "summary": texts},
        ]
    )
    closure = Closure("zone_z", {"en": "Closed: Z", "sv": "Stängt: Z"}, NOW + timedelta(hours=1))
    alerts = feeds.alerts_data(view, [closure], now=NOW)["alerts"]
    assert [a["alert_id"] for a in alerts] == ["open", "always", "zone_z"]
    assert alerts[0]["times"] == [{"start": "2025-12-31T23:00:00Z"}]
    assert alerts[2]["summary"] == [
        {"text": "Stängt: Z", "language": "sv"},
        {"text": "Closed: Z", "language": "en"},
    ]


def test_gbfs_lists_pricing_plans_only_when_there_are_some() -> None:
    names = [f["name"] for f in feeds.gbfs_data(system(), "http://h")["feeds"]]
    assert "system_pricing_plans" not in names
    assert "gbfs" not in names
    assert all(
        u["url"].startswith("http://h/gbfs/s/")
        for u in feeds.gbfs_data(system(), "http://h")["feeds"]
    )


def test_default_system_ids_are_plain_ids() -> None:
    assert default_system_id("Öresundsflyt Scooters!") == "resundsflyt_scooters"
    assert default_system_id("***") == "system"


async def test_the_cache_builds_once_for_a_burst_and_again_when_stale() -> None:
    clock = [0.0]
    cache = FeedCache(clock=lambda: clock[0])
    started = asyncio.Event()

    async def build() -> tuple[bytes, int]:
        started.set()
        await asyncio.sleep(0.01)
        return b'{"a":1}', 10

    files = await asyncio.gather(*(cache.get("k", build) for _ in range(50)))
    assert cache.builds == 1
    assert len({f.etag for f in files}) == 1
    assert files[0].max_age(0.0) == 10
    clock[0] = 9.5
    await cache.get("k", build)
    assert cache.builds == 1
    clock[0] = 10.0
    await cache.get("k", build)
    assert cache.builds == 2
    cache.forget(lambda key: key == "k")
    await cache.get("k", build)
    assert cache.builds == 3


async def test_a_failed_build_reaches_every_waiter_and_is_not_kept() -> None:
    cache = FeedCache()
    calls = 0

    async def failing() -> tuple[bytes, int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise RuntimeError("database down")

    results = await asyncio.gather(
        *(cache.get("k", failing) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert calls == 1
    with pytest.raises(RuntimeError):
        await cache.get("k", failing)
    assert calls == 2


async def test_the_cache_stays_bounded() -> None:
    cache = FeedCache(max_entries=3)

    async def build() -> tuple[bytes, int]:
        return b"x", 60

    for key in range(10):
        await cache.get(key, build)
    assert len(cache._files) <= 3
