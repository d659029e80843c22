"""Tenants (providers) and their credentials."""
