"""MQTT topics of commands and acks, and the broker URL."""

import uuid

import pytest

from fleet.commands.mqtt import ack_source, ack_topic, broker_address, command_topic

P = uuid.UUID("6f1c0a52-1d2e-4a47-9d34-0a1b2c3d4e5f")
D = uuid.UUID("0b9e8f7a-6c5d-4e3f-8a2b-1c0d9e8f7a6b")


def test_topics_name_provider_and_device() -> None:
    assert command_topic(P, D) == f"fleetbed/{P}/{D}/commands"
    assert ack_source(ack_topic(P, D)) == (P, D)


@pytest.mark.parametrize(
    "topic",
    [
        f"fleetbed/{P}/{D}/commands",
        f"fleetbed/{P}/acks",
        f"fleetbed/{P}/{D}/acks/extra",
        f"other/{P}/{D}/acks",
        f"fleetbed/not-a-uuid/{D}/acks",
        f"fleetbed/{P}/+/acks",
    ],
)
def test_other_topics_name_no_ack_source(topic: str) -> None:
    assert ack_source(topic) is None


@pytest.mark.parametrize(
    ("url", "address"),
    [("mqtt://127.0.0.1:1883", ("127.0.0.1", 1883)), ("mqtt://broker", ("broker", 1883))],
)
def test_broker_address(url: str, address: tuple[str, int]) -> None:
    assert broker_address(url) == address


@pytest.mark.parametrize("url", ["http://127.0.0.1:1883", "mqtt://", "127.0.0.1:1883"])
def test_a_broker_url_must_be_mqtt(url: str) -> None:
    with pytest.raises(ValueError, match="mqtt://"):
        broker_address(url)
