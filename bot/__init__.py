"""The domain: pure decisions about costs, owners, anomalies, TTLs and bookings (no I/O)."""
