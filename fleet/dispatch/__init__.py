"""Dispatch of pilot pods: rides for persons and deliveries of goods (dial-a-ride)."""
