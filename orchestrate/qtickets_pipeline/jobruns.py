"""meta_job_runs bookkeeping: one row per run, re-inserted with a later `updated_at` at each change."""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from . import logs

log = logs.get("jobruns")

COLUMNS = [
    "job_name",
    "run_id",
    "trigger",
    "environment",
    "status",
    "started_at",
    "finished_at",
    "date_from",
    "date_to",
    "full_refresh",
    "records_extracted",
    "rows_loaded",
    "http_requests",
    "rows_total",
    "error",
    "host",
    "pid",
    "updated_at",
]
MAX_ERROR_CHARS = 2000


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass
class JobRun:
    job_name: str
    trigger: str
    environment: str
    date_from: date | None = None
    date_to: date | None = None
    full_refresh: bool = False
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: str = "running"
    started_at: datetime = field(default_factory=now_utc)
    finished_at: datetime | None = None
    records_extracted: dict[str, int] = field(default_factory=dict)
    rows_loaded: dict[str, int] = field(default_factory=dict)
    http_requests: dict[str, int] = field(default_factory=dict)
    error: str = ""
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    def finish(self, status: str, error: str = "") -> None:
        self.status = status
        self.error = error[:MAX_ERROR_CHARS]
        self.finished_at = now_utc()

    def row(self) -> list:
        values = asdict(self)
        values["rows_total"] = sum(self.rows_loaded.values())
        values["updated_at"] = now_utc()
        return [values[c] for c in COLUMNS]

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)

    @classmethod
    def from_json(cls, text: str) -> JobRun:
        data = json.loads(text)
        for key in ("started_at", "finished_at"):
            if data.get(key):
                data[key] = datetime.fromisoformat(data[key])
        for key in ("date_from", "date_to"):
            if data.get(key):
                data[key] = date.fromisoformat(data[key])
        return cls(**data)


def _json_value(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def write(client, database: str, run: JobRun) -> None:
    # A plain INSERT … FORMAT JSONEachRow: clickhouse-connect's typed insert costs ~2 s on first use
    # with chdb, which a 30-minute job pays twice per run.
    row = {column: _json_value(value) for column, value in zip(COLUMNS, run.row(), strict=True)}
    body = json.dumps(row, ensure_ascii=False)
    client.command(f"INSERT INTO {database}.meta_job_runs FORMAT JSONEachRow {body}")


def close_orphans(client, database: str, current: JobRun) -> int:
    """Runs of this job on this host still `running` when a new one begins died or failed without a
    `qtickets-pipeline run` around them to record it: record them as failed."""
    rows = client.query(
        f"SELECT run_id, started_at FROM {database}.meta_job_runs FINAL "
        "WHERE job_name = {job:String} AND host = {host:String} AND status = 'running' "
        "AND run_id != {rid:String}",
        parameters={"job": current.job_name, "host": current.host, "rid": current.run_id},
    ).result_rows
    for run_id, started_at in rows:
        orphan = JobRun(
            job_name=current.job_name,
            trigger="unknown",
            environment=current.environment,
            run_id=run_id,
            started_at=started_at,
            host=current.host,
            pid=0,
        )
        full = client.query(
            f"SELECT trigger, environment, pid FROM {database}.meta_job_runs FINAL "
            "WHERE run_id = {rid:String}",
            parameters={"rid": run_id},
        ).result_rows
        if full:
            orphan.trigger, orphan.environment, orphan.pid = full[0]
        orphan.finish("failed", "the run did not finish: its process died, or the job stopped before its "
                                f"finish step (see Meltano's log); found by run {current.run_id}")
        write(client, database, orphan)
        log.warning("marked crashed run %s (started %s) as failed", run_id, started_at)
    return len(rows)


# A run that cannot open ClickHouse (another process holds the embedded directory, a server is down)
# leaves its row in a spool file, tagged with the warehouse it belongs to (URL without credentials and
# database); the next process that opens *that* warehouse writes it. Rows of other warehouses wait.
SPOOL_FILE = "pending_runs.jsonl"


def spool(state_dir: Path, run: JobRun, warehouse: str) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / SPOOL_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"warehouse": warehouse, "run": json.loads(run.to_json())}) + "\n")


def drain_spool(client, database: str, state_dir: Path, warehouse: str) -> int:
    """Write the spooled rows of `warehouse`; keep the others for their own warehouse."""
    path = state_dir / SPOOL_FILE
    if not path.exists():
        return 0
    taken = path.with_suffix(f".{os.getpid()}.draining")
    try:
        path.rename(taken)
    except FileNotFoundError:
        return 0
    count, others = 0, []
    for line in taken.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        if entry.get("warehouse") != warehouse:
            others.append(line)
            continue
        write(client, database, JobRun.from_json(json.dumps(entry["run"])))
        count += 1
    if others:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("\n".join(others) + "\n")
    taken.unlink()
    return count
