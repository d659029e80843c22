"""`fleetbed simulate`: a Helsingborg fleet driven through fleetbed's MDS Agency API.

The simulation itself is pure and seeded (clock, demand, paths, vehicles, misbehaviour,
batching); only `gateway` talks HTTP and only `runner` ties the parts to real time.
"""
