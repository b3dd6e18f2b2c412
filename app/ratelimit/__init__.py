"""Rate limiting by token bucket: per key, per client address, per failed authentication."""
