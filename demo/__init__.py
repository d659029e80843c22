"""The Helsingborg demo city, its seeding and the simulated fleet.

Clients of the API, not part of the domain: the server's modules never import this
package; only the `fleetbed` CLI entry point does, inside its demo and simulate commands.
"""
