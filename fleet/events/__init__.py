"""MDS events: validation, state machines, storage."""
