"""Login sessions: opaque bearer tokens, stored only as SHA-256 hashes."""
