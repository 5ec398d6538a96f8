"""target-clickhouse."""
