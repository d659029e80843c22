"""What city auditors pull: the MDS Provider API, exports, metrics, and the audit log."""
