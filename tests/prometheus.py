"""Reading one sample of fleetbed's Prometheus metrics, as a scraper would."""

import re

from httpx import AsyncClient


async def sample(client: AsyncClient, name: str, **labels: str) -> float:
    """The value of `name{labels}` at `/metrics`; 0 while the series does not exist yet."""
    text = (await client.get("/metrics")).text
    selector = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    series = re.escape(f"{name}{{{selector}}}" if labels else name)
    found = re.search(rf"^{series} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0
