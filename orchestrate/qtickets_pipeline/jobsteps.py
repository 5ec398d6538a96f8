"""The two steps around the extract-load inside the Meltano job `qtickets_load` (meltano.yml):

    qtickets-pipeline:begin  tap-qtickets target-clickhouse  qtickets-pipeline:finish

so that every entry point — `qtickets-pipeline run`, a plain `meltano run qtickets_load`, `meltano
schedule run qtickets-every-30-min` — leaves the same result: a `meta_job_runs` row and current views.

- `begin` records the run as `running` (closing runs of this job left `running` as failed: they died or
  failed without a `qtickets-pipeline run` around them to say so).
- `finish` counts the rows each stream loaded (from ClickHouse), applies transform/*.sql, records the run
  as `success` and refreshes the report.

When `qtickets-pipeline run` started the job it passes its run (id, trigger, window) in QTICKETS_RUN; the
tap's metrics only it can read (Meltano's JSON log), so it writes them to a file that `finish` picks up
once the extract-load block has ended. A plain Meltano run gets a fresh run id, trigger `meltano`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from target_clickhouse.redaction import redact

from . import jobruns, logs, transforms
from .jobruns import JobRun
from .settings import JOB_NAME, Settings
from .warehouse import connect, count_loaded

log = logs.get("job")

RUN_VARIABLE = "QTICKETS_RUN"  # JSON of the JobRun the CLI started (absent for a plain Meltano run)
CURRENT_RUN = "current-run.json"
METRICS_WAIT_SECONDS = 10.0


def metrics_file(settings: Settings, run_id: str) -> Path:
    return settings.state_dir / f"run-{run_id}.metrics.json"


def result_file(settings: Settings, run_id: str) -> Path:
    return settings.state_dir / f"run-{run_id}.result.json"


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def begin(settings: Settings) -> JobRun:
    given = settings.env.get(RUN_VARIABLE)
    run = JobRun.from_json(given) if given else JobRun(job_name=JOB_NAME, trigger="meltano",
                                                       environment=settings.environment)
    with connect(settings) as client:
        transforms.ensure_bookkeeping(client, settings)
        jobruns.drain_spool(client, settings.database, settings.state_dir, settings.warehouse)
        jobruns.close_orphans(client, settings.database, run)
        jobruns.write(client, settings.database, run)
    write_atomically(settings.state_dir / CURRENT_RUN, run.to_json())
    log.info("run %s started (%s)", run.run_id, run.trigger)
    return run


def _metrics(settings: Settings, run: JobRun, started_by_cli: bool) -> dict:
    """The tap's metrics the CLI collected; waits (bounded) until it saw the extract-load block end."""
    if not started_by_cli:
        return {}
    path = metrics_file(settings, run.run_id)
    deadline = time.monotonic() + METRICS_WAIT_SECONDS
    while True:
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        if data.get("complete") or time.monotonic() > deadline:
            return data
        time.sleep(0.05)


def finish(settings: Settings) -> JobRun:
    current = settings.state_dir / CURRENT_RUN
    if not current.exists():
        raise RuntimeError(f"no started run to finish ({current} is missing): run `qtickets-pipeline:begin` "
                           "first (the job qtickets_load does)")
    run = JobRun.from_json(current.read_text(encoding="utf-8"))
    metrics = _metrics(settings, run, bool(settings.env.get(RUN_VARIABLE)))
    run.records_extracted = metrics.get("records", {})
    run.http_requests = metrics.get("requests", {})
    with connect(settings) as client:
        try:
            run.rows_loaded = count_loaded(client, settings, run.started_at)
            transforms.apply_all(client, settings)
        except Exception as exc:
            run.finish("failed", redact(str(exc) or type(exc).__name__, *settings.secrets))
            jobruns.write(client, settings.database, run)
            current.unlink(missing_ok=True)
            raise
        run.finish("success")
        jobruns.write(client, settings.database, run)
        # Runs skipped while this one held the directory spooled their rows: write them now.
        jobruns.drain_spool(client, settings.database, settings.state_dir, settings.warehouse)
        current.unlink(missing_ok=True)
        from . import report  # plotting libraries only where a report is drawn, not in `begin`

        report.refresh(client, settings)  # a report that cannot be drawn is logged, the data stays loaded
    write_atomically(result_file(settings, run.run_id), run.to_json())
    log.info("run %s finished: %d rows loaded", run.run_id, sum(run.rows_loaded.values()))
    return run
