"""GBFS 3.0 feeds."""
