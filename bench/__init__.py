"""Benchmarks against the real services; run as `python -m bench.<name>`."""
