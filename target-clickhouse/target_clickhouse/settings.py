"""The target's settings: their JSON schema (with defaults and constraints) as `--about` shows it.

Constraints (minimums, allowed values, the `{stream}` placeholder) are declared here and checked by
the SDK's config validation; a violation names the setting and the value, e.g.
`invalid settings: 0 is less than the minimum of 1 in config['batch_size_rows']`.
"""

from __future__ import annotations

from singer_sdk import typing as th

from target_clickhouse import defaults, naming

SETTINGS = th.PropertiesList(
    th.Property(
        "url",
        th.StringType,
        description=(
            "Where ClickHouse is: `chdb:///abs/dir` opens an embedded ClickHouse (chdb) in that "
            "directory (one process at a time); `http://[user:pass@]host:8123` or `https://…:8443` "
            "reaches a server or ClickHouse Cloud. Default: `chdb://` + the absolute path of "
            "`./data/clickhouse` under the current working directory."
        ),
    ),
    th.Property("username", th.StringType, description="ClickHouse user (overrides one in `url`)."),
    th.Property(
        "password",
        th.StringType,
        secret=True,
        description="ClickHouse password (overrides one in `url`). Never logged.",
    ),
    th.Property(
        "ca_cert",
        th.StringType,
        description=(
            "https:// only: PEM file of the CA that signed the server's certificate, e.g. a managed "
            "ClickHouse provider's own root CA (Yandex Cloud, VK Cloud, Selectel). Default: this "
            "machine's trusted CAs. Checked before connecting (exists, holds a PEM certificate)."
        ),
    ),
    th.Property(
        "verify",
        th.CustomType({"type": ["boolean", "string"]}),
        default=True,
        description=(
            "https:// only: check the server's certificate (`true`/`false`, also as text). `false` is "
            "UNSAFE: anyone on the network path can pose as the server and read the password and the data; "
            "set `ca_cert` instead."
        ),
    ),
    th.Property(
        "client_cert",
        th.StringType,
        description=(
            "https:// only: PEM client certificate for servers that require one (mutual TLS). With "
            "`password`, the password logs in; without, ClickHouse's certificate authentication of "
            "`username`."
        ),
    ),
    th.Property(
        "client_cert_key",
        th.StringType,
        description="PEM private key of `client_cert` (unencrypted), unless the certificate file holds it.",
    ),
    th.Property(
        "database",
        th.StringType(min_length=1),
        default=naming.DEFAULT_DATABASE,
        description="Database to load into; created if missing.",
    ),
    th.Property(
        "table_name_pattern",
        th.StringType(pattern=naming.STREAM_PLACEHOLDER),  # `{` `}` without digits: literal in a regex
        default=naming.DEFAULT_TABLE_NAME_PATTERN,
        description="Table name per stream; `{stream}` is replaced by the stream name.",
    ),
    th.Property(
        "batch_size_rows",
        th.IntegerType(minimum=1),
        default=defaults.DEFAULT_BATCH_SIZE_ROWS,
        description="Insert a stream's rows once this many are buffered (bounds memory).",
    ),
    th.Property(
        "batch_size_bytes",
        th.IntegerType(minimum=1),
        default=defaults.DEFAULT_BATCH_SIZE_BYTES,
        description="Insert a stream's rows once their estimated size reaches this many bytes.",
    ),
    th.Property(
        "insert_retries",
        th.IntegerType(minimum=0),
        default=defaults.DEFAULT_INSERT_RETRIES,
        description=(
            "Retries (exponential backoff) of a failed insert on network errors and transient server "
            "errors; retried blocks carry the same versions and deduplication token."
        ),
    ),
    th.Property(
        "lock_wait_seconds",
        th.NumberType(minimum=0),
        default=defaults.DEFAULT_LOCK_WAIT_SECONDS,
        description=(
            "Embedded ClickHouse only: how long to wait, with a log line, when another process (a query "
            "tool, a notebook) holds the chdb directory, before failing."
        ),
    ),
    th.Property(
        "flush_interval_seconds",
        th.NumberType(exclusive_minimum=0),
        default=defaults.DEFAULT_FLUSH_INTERVAL_SECONDS,
        description=(
            "Insert every buffered row at least this often (seconds). STATE is emitted once, when the "
            "load is committed (see `after_load`), so a failed load never advances a bookmark."
        ),
    ),
    th.Property(
        "engine",
        th.StringType,
        default=defaults.DEFAULT_ENGINE,
        allowed_values=list(defaults.ENGINES),
        description=(
            "Table engine for streams with key properties: `ReplacingMergeTree(_sdc_version)` keeps the "
            "latest row per key; `MergeTree` keeps every row. Streams without keys always use MergeTree."
        ),
    ),
    th.Property(
        "engine_flavour",
        th.StringType,
        default=defaults.DEFAULT_ENGINE_FLAVOUR,
        allowed_values=list(defaults.ENGINE_FLAVOURS),
        description=(
            "How tables are made for where ClickHouse runs: `plain` (one server) uses the engine as named; "
            "`replicated` (a self-managed cluster) its Replicated form at "
            f"`{defaults.REPLICA_PATH}` with replica `{defaults.REPLICA_NAME}` (the servers' macros); "
            "`cloud` (ClickHouse Cloud) no Replicated wrapper, so Cloud's SharedMergeTree applies. "
            "`replicated` and `cloud` leave out `non_replicated_deduplication_window`."
        ),
    ),
    th.Property(
        "cluster",
        th.StringType,
        description=(
            "Cluster name: CREATE DATABASE/TABLE and ALTER run ON CLUSTER it, so every server gets the "
            "tables. Needs `engine_flavour` `replicated` (or `cloud`). Empty: one server, or Cloud."
        ),
    ),
    th.Property(
        "partition_by",
        th.StringType,
        description="Optional PARTITION BY expression for new tables, e.g. `toYYYYMM(created_at)`.",
    ),
    th.Property(
        "table_settings",
        th.ObjectType(additional_properties=True),
        default=defaults.DEFAULT_TABLE_SETTINGS,
        description=(
            "SETTINGS for new tables. The default `non_replicated_deduplication_window: 1000` makes a "
            "retried insert a no-op on non-replicated tables."
        ),
    ),
    th.Property(
        "job_name",
        th.StringType,
        description=(
            "Name of the loads in the ledger table `meta_job_runs` (one row per load: running, then "
            "success or failed with its cause). Default: the tap's name when its STATE reports its sync "
            "(tap-qtickets does), else `singer`."
        ),
    ),
    th.Property(
        "run_trigger",
        th.StringType,
        default="meltano",
        description="What started the load, recorded in the ledger (meltano, cli, schedule, …).",
    ),
    th.Property(
        "after_load",
        th.StringType,
        description=(
            "`module:function` called after every row of a load is inserted and before the load is "
            "recorded successful (with the connector and a summary of the load): where derived tables "
            "are brought up to date. A failure fails the load and commits no STATE."
        ),
    ),
    th.Property(
        "json_as",
        th.StringType,
        default=defaults.DEFAULT_JSON_AS,
        allowed_values=list(defaults.JSON_AS),
        description=(
            "Column type for object properties: `String` holds the JSON text, `JSON` uses ClickHouse's "
            "JSON type. Arrays are always stored as JSON text."
        ),
    ),
).to_dict()

# Target-level SDK built-ins this target does not offer: metadata columns are always written and
# loads are upserts by key (ReplacingMergeTree), so these settings would have no effect.
UNSUPPORTED_BUILTIN_SETTINGS = ("add_record_metadata", "load_method")
