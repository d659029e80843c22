"""The MDS vehicle registry."""
