"""Cluster-ready DDL pieces, shared by the target's staging tables and the pipeline's transforms: the
ON CLUSTER clause and the engine clause of each engine flavour.

- `plain` (default): engines as named — one server.
- `replicated`: `Replicated…MergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', …)` —
  a self-managed cluster whose servers define the `shard` and `replica` macros; with `cluster` set, every
  CREATE/ALTER runs ON CLUSTER, so each replica gets the table.
- `cloud`: engines as named, no Replicated wrapper: ClickHouse Cloud turns them into its SharedMergeTree
  family itself (and replicates DDL by its Replicated database engine: no `cluster` needed).

A plain table created ON CLUSTER would exist on every server but keep the rows of each insert on the one
that received it, so `cluster` with the `plain` flavour is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from target_clickhouse import defaults
from target_clickhouse.errors import ConfigError
from target_clickhouse.identifiers import escape_str, quote_identifier


def check_engine_flavour(flavour: str | None) -> str:
    """The flavour (`plain` when unset or empty); a ConfigError naming the setting when unknown."""
    flavour = flavour or defaults.DEFAULT_ENGINE_FLAVOUR
    if flavour not in defaults.ENGINE_FLAVOURS:
        raise ConfigError(f"setting 'engine_flavour': {flavour!r} is not one of "
                          f"{', '.join(defaults.ENGINE_FLAVOURS)}")
    return flavour


def check_cluster(cluster: str | None, flavour: str | None) -> str | None:
    """The cluster name (None when unset or empty), refused with the plain flavour."""
    if not cluster:
        return None
    if check_engine_flavour(flavour) == "plain":
        raise ConfigError(
            f"setting 'cluster' ({cluster!r}) needs setting 'engine_flavour' replicated (or cloud): plain "
            "MergeTree tables created ON CLUSTER do not replicate, each server would keep only the rows "
            "inserted into it"
        )
    quote_identifier(cluster, "setting 'cluster'")
    return cluster


def on_cluster(cluster: str | None) -> str:
    """` ON CLUSTER `name`` for DDL statements, or "" on one server."""
    return f" ON CLUSTER {quote_identifier(cluster, 'cluster')}" if cluster else ""


def engine_clause(engine: str, args: Sequence[str] = (), flavour: str | None = None) -> str:
    """An engine clause in the given flavour, e.g. `ReplacingMergeTree` + `[_sdc_version]` replicated:
    `ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}',
    _sdc_version)`. `engine` is a MergeTree-family engine name, `args` its arguments as SQL."""
    if not (engine.endswith("MergeTree") and engine.isidentifier()) or engine.startswith("Replicated"):
        raise ConfigError(f"engine {engine!r} is not a MergeTree-family engine name")
    arguments = [arg.strip() for arg in args if arg.strip()]
    if check_engine_flavour(flavour) == "replicated":
        engine = "Replicated" + engine
        replica = [f"'{escape_str(defaults.REPLICA_PATH)}'", f"'{escape_str(defaults.REPLICA_NAME)}'"]
        arguments = [*replica, *arguments]
    return f"{engine}({', '.join(arguments)})" if arguments else engine
