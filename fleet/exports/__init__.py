"""Exports for city auditors: CSV, GeoJSON and Parquet, streamed, raw or anonymised."""
