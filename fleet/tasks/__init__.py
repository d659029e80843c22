"""Field tasks: work for agents, opened by rules or managers, with a history of every change."""
