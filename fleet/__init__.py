"""Fleet domain: providers, vehicles, events, trips, tasks, reporting."""
