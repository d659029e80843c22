"""Shared kernel: imports nothing from the rest of the project."""
