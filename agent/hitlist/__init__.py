"""The gate's local hit-list (signed snapshots and deltas, see docs/hitlist.md)."""
