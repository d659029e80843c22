"""The demo city and its seeding."""
