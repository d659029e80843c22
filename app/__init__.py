"""fleetbed: fleet-management backend for a city mobility testbed."""
