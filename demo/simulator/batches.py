"""What a provider's gateway posts: its items batched, some batches late or twice (pure).

Per provider and flush, telemetry goes first (so that a trip closed by an event of the
same flush is measured along its points), then events, then trips, each in batches of at
most `max_items`. A telemetry batch may be held back for minutes (late; half the time it
was also sent on time, so the late one is a re-send) or posted twice at once.
"""

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from demo.simulator.misbehaviour import Rates

MINUTE_MS = 60_000


class Endpoint(StrEnum):
    """The MDS Agency endpoints the simulator posts to."""

    VEHICLES = "vehicles"
    TELEMETRY = "telemetry"
    EVENTS = "events"
    TRIPS = "trips"

    @property
    def path(self) -> str:
        """The URL path."""
        return f"/mds/agency/{self.value}"


@dataclass(frozen=True)
class Batch:
    """One request's worth of items of one provider; `note` says if it is sent on purpose
    late or again."""

    provider: str
    endpoint: Endpoint
    items: list[dict[str, Any]]
    note: str = ""


@dataclass
class Outbox:
    """What one provider's vehicles produced since the last flush, and what they did."""

    telemetry: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    trips: list[dict[str, Any]] = field(default_factory=list)
    tally: Counter[str] = field(default_factory=Counter)

    def note(self, what: str) -> None:
        """Count something that happened (a trip started, a misbehaviour done)."""
        self.tally[what] += 1


def chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """`items` in consecutive slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Batcher:
    """Turns one provider's outbox into batches, misbehaving with batches at `rates`."""

    provider: str
    rates: Rates
    rng: random.Random
    max_items: int = 5000
    held: list[tuple[int, Batch]] = field(default_factory=list)

    def drain(self, outbox: Outbox, now_ms: int) -> list[Batch]:
        """The batches to post now; the outbox is emptied."""
        batches: list[Batch] = []
        for items in chunks(outbox.telemetry, self.max_items):
            batch = Batch(self.provider, Endpoint.TELEMETRY, items)
            u = self.rng.random()
            if u < self.rates.late_batch:
                delay = round(self.rng.uniform(2, 10) * MINUTE_MS)
                self.held.append((now_ms + delay, replace(batch, note="late")))
                if self.rng.random() < 0.5:
                    batches.append(batch)
                outbox.note("late_batch")
            elif u < self.rates.late_batch + self.rates.duplicate_batch:
                batches += [batch, replace(batch, note="duplicate")]
                outbox.note("duplicate_batch")
            else:
                batches.append(batch)
        batches += self.release(now_ms)
        batches += [
            Batch(self.provider, Endpoint.EVENTS, items)
            for items in chunks(outbox.events, self.max_items)
        ]
        batches += [
            Batch(self.provider, Endpoint.TRIPS, items)
            for items in chunks(outbox.trips, self.max_items)
        ]
        outbox.telemetry, outbox.events, outbox.trips = [], [], []
        return batches

    def release(self, now_ms: int | None) -> list[Batch]:
        """Held batches due by `now_ms` (all of them when None), oldest first."""
        due = [(t, b) for t, b in self.held if now_ms is None or t <= now_ms]
        self.held = [(t, b) for t, b in self.held if now_ms is not None and t > now_ms]
        return [b for _, b in sorted(due, key=lambda tb: tb[0])]
