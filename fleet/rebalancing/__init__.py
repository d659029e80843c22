"""Rebalancing: demand forecast per H3 cell, target fleet per cell, van routes that restore it."""
