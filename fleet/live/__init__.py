"""The live fleet: hot-state rebuilds and operator queries."""
