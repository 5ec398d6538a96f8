"""`python -m target_clickhouse` runs the CLI (the same entry point as the `target-clickhouse` script)."""

from target_clickhouse.cli import main

main()
