"""The Agency ingest pipelines: validate, check ownership, store durably, update live state."""
