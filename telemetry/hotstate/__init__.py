"""Live fleet state in Redis: derived from PostgreSQL, rebuildable from it."""
