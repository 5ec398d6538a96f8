"""One `qtickets-pipeline run`: the overlap lock and the window, then `meltano run qtickets_load` (whose
begin/finish steps record the run and apply the transforms); a failure the job could not record is
recorded here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from target_clickhouse.redaction import redact

from . import jobruns, jobsteps, logs, meltano_cli, preflight, transforms
from .jobruns import JobRun
from .overlap import RunLock
from .settings import JOB_NAME, Settings, SettingsError, load_settings, name_user_settings
from .warehouse import connect

log = logs.get("run")


class PipelineFailed(RuntimeError):
    def __init__(self, run: JobRun) -> None:
        super().__init__(run.error)
        self.run = run


@dataclass(frozen=True)
class Window:
    """What the tap is asked for. The scheduled (default) run is incremental and saves the bookmark;
    --days / --since / --to are one-off reloads that leave the bookmark alone."""

    start: datetime
    end: datetime | None
    save_state: bool
    full_refresh: bool

    def plugin_config(self) -> dict[str, str]:
        config = {"TAP_QTICKETS_START_DATE": self.start.isoformat()}
        if self.end is not None:
            config["TAP_QTICKETS_END_DATE"] = self.end.isoformat()
        return config


def resolve_window(
    settings: Settings,
    *,
    days: int | None = None,
    since: date | None = None,
    to: date | None = None,
    full_refresh: bool = False,
) -> Window:
    tz = ZoneInfo(settings.report_tz)
    now = datetime.now(tz)
    if days is not None and (since or to):
        raise SettingsError("use either --days or --since/--to, not both")
    if days is not None and days <= 0:
        raise SettingsError(f"--days must be positive, got {days}")
    if to and not since:
        raise SettingsError("--to needs --since")
    if since:
        end_day = to or now.date()
        if end_day < since:
            raise SettingsError(f"--to {end_day} is before --since {since}")
        end = datetime.combine(end_day, time(23, 59, 59), tz)
        return Window(datetime.combine(since, time(0, 0), tz), end, save_state=False, full_refresh=True)
    if days is not None:
        start = datetime.combine(now.date() - timedelta(days=days), time(0, 0), tz)
        return Window(start, None, save_state=False, full_refresh=True)
    start = datetime.combine(now.date() - timedelta(days=settings.days_back), time(0, 0), tz)
    return Window(start, None, save_state=True, full_refresh=full_refresh)


def _record(settings: Settings, run: JobRun) -> None:
    """Write the run row; if ClickHouse cannot be opened (another process holds chdb), spool it."""
    try:
        with connect(settings) as client:
            transforms.ensure_bookkeeping(client, settings)
            jobruns.drain_spool(client, settings.database, settings.state_dir, settings.warehouse)
            jobruns.write(client, settings.database, run)
    except Exception as exc:
        log.warning(
            "could not record run %s in meta_job_runs (%s); kept in %s",
            run.run_id,
            redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, *settings.secrets),
            settings.state_dir,
        )
        jobruns.spool(settings.state_dir, run, settings.warehouse)


def explain(error: str, settings: Settings) -> str:
    """What to do about an error, where the pipeline knows better than the plugin."""
    if settings.environment == "demo" and "connection refused" in error:
        return f"{error} — start the demo's sandbox first: qtickets-pipeline sandbox"
    return error


class MetricsHandoff:
    """Hands the tap's metrics (seen only in Meltano's JSON log, which this process reads) to the job's
    `finish` step through a file, marked complete once the extract-load block has ended."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, event: dict, out: meltano_cli.RunOutput) -> None:
        complete = event.get("block_type") == meltano_cli.EXTRACT_LOAD_BLOCK and "success" in event
        if complete or event.get("metric_info"):
            jobsteps.write_atomically(self.path, json.dumps(
                {"records": out.records, "requests": out.requests, "complete": complete}))


def run_pipeline(
    settings: Settings,
    *,
    trigger: str = "cli",
    days: int | None = None,
    since: date | None = None,
    to: date | None = None,
    full_refresh: bool = False,
) -> JobRun:
    """Run the job once. Returns the finished JobRun (status success or skipped); raises
    PipelineFailed (after recording a failed row) on any failure."""
    window = resolve_window(settings, days=days, since=since, to=to, full_refresh=full_refresh)
    preflight.ensure_selection(settings)
    run = JobRun(
        job_name=JOB_NAME,
        trigger=trigger,
        environment=settings.environment,
        date_from=window.start.date(),
        date_to=window.end.date() if window.end else None,
        full_refresh=window.full_refresh,
    )
    fields = {"run_id": run.run_id, "job": JOB_NAME, "environment": settings.environment}
    lock = RunLock(settings.state_dir)
    if not lock.acquire():
        run.finish("skipped", f"another run (pid {lock.holder_pid()}) is still active; nothing done")
        log.warning(
            "another qtickets-pipeline run is active (pid %s): skipping this one",
            lock.holder_pid(),
            extra={"fields": fields},
        )
        if settings.is_embedded:
            # Opening chdb now could take the directory from under the active run's target; leave the
            # row for the active run (or the next `run`/`status`) to write.
            jobruns.spool(settings.state_dir, run, settings.warehouse)
        else:
            _record(settings, run)
        return run
    metrics, result = jobsteps.metrics_file(settings, run.run_id), jobsteps.result_file(settings, run.run_id)
    try:
        log.info(
            "run started: window from %s%s, %s",
            window.start.isoformat(),
            f" to {window.end.isoformat()}" if window.end else "",
            "incremental"
            if window.save_state and not window.full_refresh
            else ("full refresh" if window.save_state else "one-off window, bookmark unchanged"),
            extra={"fields": fields},
        )
        try:
            # The job records the run itself (its begin/finish steps); this process holds the overlap
            # lock, decides the window, and records a failure the job could not.
            out = meltano_cli.run_job(
                settings,
                full_refresh=window.full_refresh,
                save_state=window.save_state,
                plugin_config={jobsteps.RUN_VARIABLE: run.to_json(), **window.plugin_config()},
                on_event=MetricsHandoff(metrics),
            )
            run.records_extracted, run.http_requests = out.records, out.requests
            if out.returncode != 0:
                raise RuntimeError(
                    f"meltano run {JOB_NAME} failed (exit {out.returncode}): "
                    + explain(name_user_settings(out.error_summary(settings.secrets), settings.env), settings)
                )
            run = jobruns.JobRun.from_json(result.read_text(encoding="utf-8"))
        except Exception as exc:
            message = redact(str(exc) or type(exc).__name__, *settings.secrets)
            run.finish("failed", message)
            log.error("run failed: %s", message, extra={"fields": fields, "console": False})
            _record(settings, run)
            raise PipelineFailed(run) from None
        log.info(
            "run finished: %d rows loaded in %.1f s (%s)",
            sum(run.rows_loaded.values()),
            ((run.finished_at or run.started_at) - run.started_at).total_seconds(),
            ", ".join(f"{k}={v}" for k, v in sorted(run.rows_loaded.items())),
            extra={"fields": fields},
        )
        return run
    finally:
        metrics.unlink(missing_ok=True)
        result.unlink(missing_ok=True)
        lock.release()


def load(
    date_from: date | str | None = None,
    date_to: date | str | None = None,
    *,
    days: int | None = None,
    env_file: str | None = None,
    environment: str | None = None,
    full_refresh: bool = False,
) -> JobRun:
    """Module use: `load()` (incremental), `load(date(2025, 10, 1), date(2025, 10, 31))` or `load(days=7)`.
    Raises PipelineFailed on failure."""
    settings = load_settings(env_file, environment)
    logs.configure(settings.env)
    since = date.fromisoformat(date_from) if isinstance(date_from, str) else date_from
    to = date.fromisoformat(date_to) if isinstance(date_to, str) else date_to
    return run_pipeline(settings, trigger="module", days=days, since=since, to=to, full_refresh=full_refresh)
