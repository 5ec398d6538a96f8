"""ClickHouseConnector: everything the target says to ClickHouse, one instance per target.

Shaped like the Meltano SDK's `SQLConnector` (as used by MeltanoLabs/target-postgres), without
SQLAlchemy. It owns:

* the client, opened by the one factory `connection.open_client` (chdb directory or server URL,
  username/password settings over URL credentials, TLS settings checked up front (`tls.py`), the chdb
  lock error, redacted credentials);
* the naming of tables (`naming.py`) and identifier quoting (`identifiers.py`);
* the type mapping (`schema_types.py`) and the DDL (`tables.py`: CREATE TABLE, ADD/MODIFY COLUMN);
* inserts (JSONEachRow rows from `rows.py`, deduplication token, retries on transient errors);
* the `_sdc_version` sequence (`versions.py`), shared by every table it loads.

Usable outside a target too (the pipeline):

    with ClickHouseConnector.from_url("chdb:///abs/dir", database="zakaz") as connector:
        connector.client.query(f"SELECT count() FROM {connector.full_table_name('stg_qtickets_sales_raw')}")
"""

from __future__ import annotations

import logging
import time
import typing as t
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cached_property
from types import MappingProxyType, TracebackType

import backoff
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, Error, OperationalError

from target_clickhouse import defaults, naming
from target_clickhouse import schema_types as st
from target_clickhouse.changes import BatchChanges, RowChanges
from target_clickhouse.connection import default_url, open_client
from target_clickhouse.ddl import check_cluster, check_engine_flavour
from target_clickhouse.identifiers import qualified_table, quote_identifier, validate_identifier
from target_clickhouse.redaction import redact_url
from target_clickhouse.rows import INPUT_SETTINGS, RowEncoder
from target_clickhouse.tables import (
    EngineOptions,
    desired_columns,
    ensure_table,
    existing_columns,
    max_version,
)
from target_clickhouse.tls import TlsSettings
from target_clickhouse.versions import VersionSequence

logger = logging.getLogger("target-clickhouse.connector")

# Server error codes worth retrying: timeouts, network, too many parts/queries, read-only replica.
_RETRYABLE_CODES = {159, 202, 209, 210, 242, 252, 425, 999}


def is_retryable(exc: BaseException) -> bool:
    """Network errors and transient server errors (clickhouse-connect's `code`: the server's error code)."""
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, Error) and exc.code in _RETRYABLE_CODES


@t.runtime_checkable
class ConnectorOwner(t.Protocol):
    """What a sink needs from its target: the shared connector (`TargetClickHouse.connector`)."""

    @property
    def connector(self) -> ClickHouseConnector: ...


class ClickHouseConnector:
    """The target's connection to ClickHouse: client, naming, types, DDL, inserts, versions.

    `config` takes the target's settings (`url`, `username`, `password`, `database`,
    `table_name_pattern`, `engine`, `engine_flavour`, `cluster`, `partition_by`, `table_settings`,
    `json_as`, `insert_retries`, `ca_cert`, `verify`, `client_cert`, `client_cert_key`); every one is
    optional. The client opens on first use (`client`, `open_client()`) and stays open until `close()`;
    with embedded ClickHouse, close it before another process needs the directory.
    """

    def __init__(self, config: Mapping[str, t.Any] | None = None) -> None:
        self._settings = dict(config or {})
        self.url: str = self._settings.get("url") or default_url()
        self.database: str = validate_identifier(
            self._settings.get("database") or naming.DEFAULT_DATABASE, "setting 'database'"
        )
        self.table_name_pattern: str = naming.check_table_name_pattern(
            self._settings.get("table_name_pattern") or naming.DEFAULT_TABLE_NAME_PATTERN
        )
        self.engine_flavour: str = check_engine_flavour(self._settings.get("engine_flavour"))
        self.cluster: str | None = check_cluster(self._settings.get("cluster"), self.engine_flavour)
        self.tls = TlsSettings.from_config(self._settings, self.url)
        self.versions = VersionSequence()
        self._client: Client | None = None
        self._inserted: Counter[str] = Counter()  # rows inserted per table (prepared tables: 0)
        # Per prepared table: the first version this connector could insert into it, and its keys.
        self._floors: dict[str, tuple[int, tuple[str, ...]]] = {}
        self._changes: dict[str, RowChanges] = {}  # new / changed / unchanged per table (changes.py)
        self._unclassified: set[str] = set()  # tables whose classification failed
        self.classify_seconds = 0.0  # what classifying the batches cost
        retries = self._settings.get("insert_retries")
        self._with_retries = backoff.on_exception(
            backoff.expo,
            (OperationalError, DatabaseError),
            max_tries=(defaults.DEFAULT_INSERT_RETRIES if retries is None else int(retries)) + 1,
            giveup=lambda exc: not is_retryable(exc),
            max_value=30,
            logger=logger,
        )

    @classmethod
    def from_url(
        cls,
        url: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        database: str | None = None,
    ) -> ClickHouseConnector:
        """A connector for `url` (default: the embedded `data/clickhouse` directory under the cwd)."""
        given = {"url": url, "username": username, "password": password, "database": database}
        return cls({name: value for name, value in given.items() if value is not None})

    @property
    def config(self) -> Mapping[str, t.Any]:
        """The settings this connector was made with (read-only)."""
        return MappingProxyType(self._settings)

    @property
    def redacted_url(self) -> str:
        """`url` without credentials, for logs and messages."""
        return redact_url(self.url)

    # --- the client -------------------------------------------------------------------------------

    def open_client(self) -> Client:
        """The connector's client, opened (and the database created if missing) on the first call."""
        if self._client is None:
            logger.debug("Opening ClickHouse at %s (database %s)", self.redacted_url, self.database)
            self._client = open_client(
                self.url,
                username=self._settings.get("username"),
                password=self._settings.get("password"),
                database=self.database,
                lock_wait_seconds=float(self._settings.get("lock_wait_seconds",
                                                           defaults.DEFAULT_LOCK_WAIT_SECONDS)),
                cluster=self.cluster,
                tls=self.tls,
            )
        return self._client

    @property
    def client(self) -> Client:
        return self._client if self._client is not None else self.open_client()

    def close(self) -> None:
        """Close the client (a later use opens a new one)."""
        if self._client is not None:
            client, self._client = self._client, None
            client.close()

    def __enter__(self) -> ClickHouseConnector:
        self.open_client()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- naming and quoting -----------------------------------------------------------------------

    def table_name(self, stream_name: str) -> str:
        """The table of a stream under this connector's `table_name_pattern`."""
        return naming.table_name(stream_name, self.table_name_pattern)

    @staticmethod
    def quote(identifier: str) -> str:
        """A backtick-quoted identifier (any name without control characters)."""
        return quote_identifier(identifier)

    def full_table_name(self, table: str) -> str:
        """`database`.`table`, quoted."""
        return qualified_table(self.database, table)

    # --- types and DDL ----------------------------------------------------------------------------

    def column_types(
        self, stream_name: str, schema: Mapping[str, t.Any], key_properties: Sequence[str]
    ) -> dict[str, st.ColumnType]:
        """The table's columns for a stream schema: its properties, then the `_sdc_*` columns."""
        json_as = self._settings.get("json_as") or defaults.DEFAULT_JSON_AS
        return desired_columns(stream_name, schema, key_properties, json_as)

    @cached_property
    def engine_options(self) -> EngineOptions:
        given = self._settings.get("table_settings")
        table_settings = dict(defaults.DEFAULT_TABLE_SETTINGS if given is None else given)
        if self.engine_flavour != defaults.DEFAULT_ENGINE_FLAVOUR:
            for name in defaults.PLAIN_ONLY_TABLE_SETTINGS:
                table_settings.pop(name, None)
        return EngineOptions(
            engine=self._settings.get("engine") or defaults.DEFAULT_ENGINE,
            partition_by=self._settings.get("partition_by") or None,
            table_settings=table_settings,
            flavour=self.engine_flavour,
            cluster=self.cluster,
        )

    def table_columns(self, table: str) -> dict[str, st.ColumnType]:
        """The columns of an existing table (empty when it does not exist)."""
        return existing_columns(self.client, self.database, table)

    def prepare_table(
        self, stream_name: str, table: str, schema: Mapping[str, t.Any], key_properties: Sequence[str]
    ) -> dict[str, st.ColumnType]:
        """Create the table, or evolve it to the schema (ADD COLUMN, MODIFY COLUMN to a wider type).

        Returns the column types to load into, in table order. Also moves the version sequence
        above the table's latest `_sdc_version`."""
        wanted = self.column_types(stream_name, schema, key_properties)
        defaults = {name: prop["default"] for name, prop in (schema.get("properties") or {}).items()
                    if isinstance(prop, Mapping) and "default" in prop}
        columns = ensure_table(self.client, stream_name, self.database, table, wanted, key_properties,
                               self.engine_options, defaults)
        newest = max_version(self.client, self.database, table)
        self.versions.ensure_above(newest)
        # An empty table (0: no version) has nothing to compare with: every key the load sends is new.
        self._floors.setdefault(table, (self.versions.peek() if newest else 0, tuple(key_properties)))
        self._inserted[table] += 0
        return columns

    def existing_tables(self) -> set[str]:
        """The names of the tables in the connector's database."""
        rows = self.client.query("SELECT name FROM system.tables WHERE database = {db:String}",
                                 parameters={"db": self.database}).result_rows
        return {name for (name,) in rows}

    def rows_loaded(self) -> dict[str, int]:
        """Rows this connector inserted so far, per stream (streams whose table it prepared: 0 too)."""
        pattern = self.table_name_pattern
        out = {}
        for table, count in sorted(self._inserted.items()):
            stream = naming.stream_name(table, pattern)
            out[stream or table] = count
        return out

    def row_changes(self) -> dict[str, RowChanges]:
        """New / changed / unchanged keys among the rows this connector inserted, per stream (changes.py;
        tables without keys are left out)."""
        pattern = self.table_name_pattern
        return {naming.stream_name(table, pattern) or table: self._changes.get(table, RowChanges(0, 0, 0))
                for table, (_, keys) in sorted(self._floors.items()) if keys}

    def classifies(self, table: str) -> str | None:
        """The first key property, when the rows inserted into `table` are classified against earlier ones
        (it held rows before this load and has keys): the sink then passes `first_keys` to `insert`."""
        floor, keys = self._floors.get(table, (0, ()))
        return keys[0] if floor and keys and table not in self._unclassified else None

    def _changes_of(self, table: str) -> BatchChanges:
        floor, keys = self._floors[table]
        columns = list(self.table_columns(table))
        return BatchChanges(self.client, self.full_table_name(table), keys, columns, floor)

    def _count(self, table: str, changes: RowChanges) -> None:
        self._changes[table] = self._changes.get(table, RowChanges(0, 0, 0)) + changes

    def _unclassifiable(self, table: str, exc: Exception) -> None:
        self._unclassified.add(table)
        self._changes.pop(table, None)
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        logger.warning("%s: could not tell new rows from changed ones: %s", table, first_line)

    # --- versions and inserts ---------------------------------------------------------------------

    def reserve_versions(self, count: int) -> int:
        """`count` consecutive `_sdc_version` values, above every one handed out before; the first."""
        return self.versions.take(count)

    def insert(self, table: str, rows: bytes, column_names: Sequence[str], *, count: int, token: str,
               first_version: int | None = None, first_keys: Sequence[object] | None = None) -> None:
        """Insert one batch of JSONEachRow rows (`rows.RowEncoder.body`), retried on transient errors
        (`insert_retries`).

        `token` is the block's `insert_deduplication_token`: a retry of an insert whose acknowledgement
        was lost adds no rows on tables with `non_replicated_deduplication_window` (or replicated).
        `first_version`, the batch's first `_sdc_version`, and `first_keys`, the values of its first key
        property when `classifies(table)`: its keys are then classified (`row_changes`, changes.py)."""
        settings = {**INPUT_SETTINGS, "insert_deduplication_token": token, "async_insert": 0}

        def insert_once() -> None:
            self.client.raw_insert(
                self.full_table_name(table),  # pre-quoted: dotted names pass through as they are
                column_names,
                insert_block=rows,
                fmt="JSONEachRow",
                settings=settings,
            )

        floor, keys = self._floors.get(table, (0, ()))
        changes, before = None, None
        if first_version is not None and first_keys is not None and self.classifies(table):
            started = time.perf_counter()
            try:
                changes = self._changes_of(table)
                before = changes.before(first_keys)
            except Exception as exc:
                self._unclassifiable(table, exc)
            self.classify_seconds += time.perf_counter() - started
        self._with_retries(insert_once)()
        self._inserted[table] += count
        if first_version is None or not keys or table in self._unclassified:
            return
        if not floor:  # the table held nothing before this load: every key is new
            self._count(table, RowChanges(count, 0, 0))
        elif changes is not None and before is not None:
            started = time.perf_counter()
            try:
                self._count(table, changes.after(before, first_version, first_version + count - 1))
            except Exception as exc:
                self._unclassifiable(table, exc)
            self.classify_seconds += time.perf_counter() - started
        else:  # a batch that could not be classified: the table's counts would be partial
            self._unclassifiable(table, ValueError("its first key's values are not integers or strings"))

    def insert_records(self, stream_name: str, schema: Mapping[str, t.Any], key_properties: Sequence[str],
                       records: Sequence[tuple[dict[str, t.Any], object]]) -> int:
        """Records of one stream, each with its `time_extracted`, into the stream's table as the target's sink
        loads them (the table prepared for `schema`, every value checked, `_sdc_*` filled, one insert with a
        deduplication token): for writers other than the Singer target (the webhook receiver)."""
        if not records:
            return 0
        table = self.table_name(stream_name)
        encoder = RowEncoder(stream_name, self.prepare_table(stream_name, table, schema, key_properties),
                             key_properties)
        rows = [encoder.from_record(record, extracted) for record, extracted in records]
        first = self.reserve_versions(len(rows))
        token = f"{self.database}.{table}:{first}:{len(rows)}"
        self.insert(table, encoder.body(rows, first), encoder.column_names, count=len(rows), token=token)
        return len(rows)
