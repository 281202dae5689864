"""The reference payments service: what teams copy when they start on `hardened`."""
