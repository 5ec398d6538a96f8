"""`python -m target_clickhouse` runs the CLI."""

from target_clickhouse.target import TargetClickHouse

TargetClickHouse.cli()
