"""Public vehicle ids: a new random-looking id after every trip, stable while parked."""

import hashlib
import uuid


def public_vehicle_id(secret: bytes, device_id: str, trip_ts_ms: int | None) -> str:
    """The id a vehicle is published under until its next trip.

    A keyed BLAKE2b of the device and the time of its newest trip: without the system's
    secret nobody can link two ids of one vehicle, or an id to the device; with it,
    fleetbed maps an id back by computing its vehicles' current ids.
    """
    message = f"{device_id}|{trip_ts_ms if trip_ts_ms is not None else ''}".encode()
    digest = hashlib.blake2b(message, key=secret, digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))
