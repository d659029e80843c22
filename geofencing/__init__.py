"""Zones, H3 covers, the zone index, rules and compliance."""
