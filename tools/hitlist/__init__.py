"""Central-side hit-list tools: the list builder and signer (never shipped on a gate)."""
