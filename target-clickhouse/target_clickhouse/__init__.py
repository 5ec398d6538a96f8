"""Singer target for ClickHouse (embedded chdb by default, any server by URL)."""
