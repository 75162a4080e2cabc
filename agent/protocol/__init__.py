"""Wire protocol between gates and the central node: topics, signed envelopes, commands, trusted time."""
