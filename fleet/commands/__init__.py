"""Commands to vehicles: stored durably, delivered over HTTP long poll or MQTT, acked."""
