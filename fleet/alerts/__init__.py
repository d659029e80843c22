"""Alerts raised by the rules on the hot path: stored, queryable, streamed to workers."""
