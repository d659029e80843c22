"""The demo operators' public GBFS texts and prices, in Swedish and English."""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.settings import GbfsSettings, Settings
from demo.city import OPERATORS, Operator
from fleet.gbfs.schemas import GbfsSystemBody
from fleet.gbfs.service import RENTAL_MODES, Defaults, put_system, system_of

LANGUAGES = ("sv", "en")
# Unlock fee and price per minute in SEK, per operator.
PRICES = {"sundsvik": (10.0, 3.0), "kullacykel": (0.0, 2.0), "oresundsflyt": (10.0, 2.5)}


def _both(sv: str, en: str) -> list[dict[str, str]]:
    return [{"text": sv, "language": "sv"}, {"text": en, "language": "en"}]


def demo_system(operator: Operator) -> GbfsSystemBody:
    """An operator's GBFS settings as a real one would give them."""
    unlock, per_minute = PRICES.get(operator.key, (10.0, 3.0))
    return GbfsSystemBody.model_validate(
        {
            "system_id": f"{operator.key}_helsingborg",
            "languages": list(LANGUAGES),
            "name": _both(f"{operator.name} Helsingborg", f"{operator.name} Helsingborg"),
            "short_name": _both(operator.name, operator.name),
            "operator": _both(f"{operator.name} AB", f"{operator.name} Ltd"),
            "url": f"https://{operator.key}.example",
            "feed_contact_email": f"gbfs@{operator.key}.example",
            "license_id": "CC0-1.0",
            "opening_hours": "24/7",
            "rental_uris": {
                "web": f"https://{operator.key}.example/rent?vehicle={{vehicle_id}}",
            },
            "pricing_plans": [
                {
                    "plan_id": "standard",
                    "name": _both("Standard", "Standard"),
                    "currency": "SEK",
                    "price": unlock,
                    "is_taxable": False,
                    "description": _both(
                        f"{unlock:.0f} kr att låsa upp, {per_minute:.1f} kr per minut",
                        f"SEK {unlock:.0f} to unlock, SEK {per_minute:.1f} a minute",
                    ),
                    "per_min_pricing": [{"start": 0, "rate": per_minute, "interval": 1}],
                }
            ],
        }
    )


async def ensure_gbfs(session: AsyncSession, *, now: datetime) -> int:
    """Give each demo rental operator its GBFS settings unless it has some; how many."""
    gbfs = GbfsSettings()
    defaults = Defaults(
        tuple(gbfs.languages),
        gbfs.feed_contact_email,
        Settings.model_fields["city_timezone"].default,
    )
    made = 0
    for operator in OPERATORS:
        if operator.mode.value not in RENTAL_MODES:
            continue
        current = await system_of(
            session, provider_id=operator.provider_id, defaults=defaults, now=now
        )
        if current.body != GbfsSystemBody():
            continue  # the operator's own settings stay
        await put_system(
            session,
            provider_id=operator.provider_id,
            body=demo_system(operator),
            defaults=defaults,
            actor="demo",
            now=now,
        )
        made += 1
    return made
