"""Trips: opened and closed by events, measured along the telemetry route."""
