"""Telemetry ingest, history store and the Redis hot state."""
