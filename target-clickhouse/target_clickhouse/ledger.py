"""The load ledger: one row per load in `{database}.meta_job_runs`, written by the loader itself.

Like dlt's `_dlt_loads`, the destination records its own loads, so the ledger is right whoever started
the load (`meltano run`, a schedule, a script) and lives with the data it describes. A load's row is
inserted again at every change (`running`, then `success` or `failed`) with a later `updated_at`;
ReplacingMergeTree keeps the latest (read it with FINAL, or through the project's `v_job_runs`).
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from clickhouse_connect.driver.client import Client

from target_clickhouse.ddl import engine_clause, on_cluster
from target_clickhouse.identifiers import qualified_table, quote_identifier

LEDGER_TABLE = "meta_job_runs"
RUNNING, SUCCESS, FAILED, SKIPPED = "running", "success", "failed", "skipped"
MAX_ERROR_CHARS = 2000
# Column → type, in table order. Older ledgers gain the later columns in place (ADD COLUMN IF NOT EXISTS).
COLUMNS = {
    "job_name": "LowCardinality(String)",
    "run_id": "String",
    "trigger": "LowCardinality(String)",  # what started the load: meltano, cli, schedule, webhook, …
    "environment": "LowCardinality(String)",  # the Meltano environment
    "status": "LowCardinality(String)",  # running | success | failed | skipped
    "started_at": "DateTime64(3, 'UTC')",
    "finished_at": "Nullable(DateTime64(3, 'UTC'))",
    "date_from": "Nullable(Date32)",  # the days of window_start / window_end
    "date_to": "Nullable(Date32)",
    "full_refresh": "Bool",
    "records_extracted": "Map(String, UInt64)",  # records received, per stream
    "rows_loaded": "Map(String, UInt64)",  # rows inserted, per stream
    "http_requests": "Map(String, UInt64)",  # API requests, per stream, as the tap reported them
    "rows_total": "UInt64",
    "error": "String",  # the cause of a failed load (secret-free)
    "host": "String",
    "pid": "UInt32",
    "updated_at": "DateTime64(6, 'UTC')",
    "window_start": "Nullable(DateTime64(3, 'UTC'))",  # what the tap read
    "window_end": "Nullable(DateTime64(3, 'UTC'))",
    "state": "String",  # the Singer state committed with a successful load
    "account": "LowCardinality(String)",  # the source account a tap reported (several per warehouse)
}


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass
class LedgerRow:
    job_name: str
    trigger: str
    environment: str = ""
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: str = RUNNING
    started_at: datetime = field(default_factory=now_utc)
    finished_at: datetime | None = None
    full_refresh: bool = False
    window_start: datetime | None = None
    window_end: datetime | None = None
    records_extracted: dict[str, int] = field(default_factory=dict)
    rows_loaded: dict[str, int] = field(default_factory=dict)
    http_requests: dict[str, int] = field(default_factory=dict)
    error: str = ""
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    state: str = ""
    account: str = ""

    def finish(self, status: str, error: str = "") -> None:
        self.status, self.error, self.finished_at = status, error[:MAX_ERROR_CHARS], now_utc()

    def values(self) -> dict[str, object]:
        window = (self.window_start, self.window_end)
        return {
            "job_name": self.job_name, "run_id": self.run_id, "trigger": self.trigger,
            "environment": self.environment, "status": self.status, "started_at": self.started_at,
            "finished_at": self.finished_at,
            "date_from": window[0].date() if window[0] else None,
            "date_to": window[1].date() if window[1] else None,
            "full_refresh": self.full_refresh, "records_extracted": self.records_extracted,
            "rows_loaded": self.rows_loaded, "http_requests": self.http_requests,
            "rows_total": sum(self.rows_loaded.values()), "error": self.error, "host": self.host,
            "pid": self.pid, "updated_at": now_utc(), "window_start": window[0], "window_end": window[1],
            "state": self.state, "account": self.account,
        }


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


class Ledger:
    """The ledger table of one database, through an open client."""

    def __init__(self, client: Client, database: str, *, flavour: str = "plain",
                 cluster: str | None = None, table: str = LEDGER_TABLE) -> None:
        self.client, self.database = client, database
        self.flavour, self.cluster = flavour, cluster
        self.table = qualified_table(database, table)

    def ensure_table(self) -> None:
        columns = ",\n  ".join(f"{quote_identifier(name)} {sql}" for name, sql in COLUMNS.items())
        engine = engine_clause("ReplacingMergeTree", ["updated_at"], self.flavour)
        cluster = on_cluster(self.cluster)
        self.client.command(f"CREATE TABLE IF NOT EXISTS {self.table}{cluster} (\n  {columns}\n)\n"
                            f"ENGINE = {engine}\nORDER BY (job_name, run_id)")
        existing = {row[0] for row in self.client.query(f"DESCRIBE TABLE {self.table}").result_rows}
        for name, sql in COLUMNS.items():
            if name not in existing:
                self.client.command(f"ALTER TABLE {self.table}{cluster} ADD COLUMN IF NOT EXISTS "
                                    f"{quote_identifier(name)} {sql}")

    def write(self, row: LedgerRow) -> None:
        # A plain INSERT … FORMAT JSONEachRow: clickhouse-connect's typed insert costs ~2 s on first use
        # with chdb, once per process.
        body = json.dumps({k: _json_value(v) for k, v in row.values().items()}, ensure_ascii=False)
        self.client.command(f"INSERT INTO {self.table} FORMAT JSONEachRow {body}")

    def running_elsewhere(self, job_name: str, current: LedgerRow) -> list[tuple[str, int, datetime]]:
        """(run_id, pid, started_at) of the job's other loads on this host still recorded `running`."""
        rows = self.client.query(
            f"SELECT run_id, pid, started_at FROM {self.table} FINAL WHERE job_name = {{job:String}} "
            "AND host = {host:String} AND status = 'running' AND run_id != {rid:String}",
            parameters={"job": job_name, "host": current.host, "rid": current.run_id},
        ).result_rows
        return [(str(run_id), int(pid), started) for run_id, pid, started in rows]

    def close_dead(self, job_name: str, current: LedgerRow) -> list[str]:
        """Record as failed the job's loads on this host whose process has died without a result."""
        closed = []
        for run_id, pid, started in self.running_elsewhere(job_name, current):
            if pid and _alive(pid, started if started.tzinfo else started.replace(tzinfo=UTC)):
                continue
            dead = self.read(run_id) or LedgerRow(job_name=job_name, trigger="unknown", run_id=run_id,
                                                  started_at=started, pid=pid)
            dead.finish(FAILED, f"the load did not finish: its process (pid {pid}) ended without recording "
                                f"a result (killed, or the machine stopped); found by load {current.run_id}")
            self.write(dead)
            closed.append(run_id)
        return closed

    def read(self, run_id: str) -> LedgerRow | None:
        result = self.client.query(
            f"SELECT * EXCEPT (rows_total, updated_at, date_from, date_to) FROM {self.table} FINAL "
            "WHERE run_id = {rid:String} LIMIT 1", parameters={"rid": run_id})
        if not result.result_rows:
            return None
        values = dict(zip(result.column_names, result.result_rows[0], strict=True))
        for key in ("started_at", "finished_at", "window_start", "window_end"):
            if isinstance(values.get(key), datetime) and values[key].tzinfo is None:
                values[key] = values[key].replace(tzinfo=UTC)
        return LedgerRow(**values)

    def last_success(self, job_name: str, account: str = "") -> LedgerRow | None:
        """The account's newest successful load. Loads recorded before the ledger had accounts (account '')
        count for every account: they were the one account a warehouse upgraded in place held."""
        result = self.client.query(
            f"SELECT run_id FROM {self.table} FINAL WHERE job_name = {{job:String}} "
            "AND account IN ({acc:String}, '') AND status = 'success' ORDER BY started_at DESC LIMIT 1",
            parameters={"job": job_name, "acc": account})
        return self.read(result.result_rows[0][0]) if result.result_rows else None


def _alive(pid: int, since: datetime) -> bool:
    """Whether process `pid` still runs and is the one that started at `since` (not a later process
    that was given the same pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = _process_start(pid)
    return started is None or started <= since.timestamp() + 5


def _process_start(pid: int) -> float | None:
    """When `pid` started (epoch seconds), from /proc; None where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat", encoding="ascii") as system:
            boot = next(int(line.split()[1]) for line in system if line.startswith("btime"))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")
