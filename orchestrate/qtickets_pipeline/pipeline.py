"""One `qtickets-pipeline run`, as one straight line in one process group:

    overlap lock → the tap's catalog (cached) → `meltano run qtickets_load` → the result

The load itself — extract, insert, the after-load step that brings the views up to date, the ledger row,
the bookmark — is done by the tap and the target inside that one `meltano run` (meltano.yml). This process
adds what only it knows: the window (`--days`, `--since/--to`, `--full-refresh`), what started the run
(`run_trigger`), the lock, and one line with the result. It opens the warehouse only to record a run that
could not record itself (Meltano or the target failed before the target's ledger row).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from target_clickhouse import NO_PRIOR_LOAD, describe_changes, redact

from . import accounts as project_accounts
from . import logs, meltano_cli, preflight
from .accounts import Account
from .overlap import RunLock
from .settings import DEMO, JOB_NAME, LEDGER_JOB, Settings, SettingsError, load_settings, name_user_settings
from .warehouse import connect, ledger

log = logs.get("run")

TRIGGERS = ("cli", "schedule", "module", "demo", "bench", "test")
# The plugins' loggers whose INFO lines are the run's story (the rest of their INFO lines are DEBUG here).
SHOWN_LOGGERS = ("tap_qtickets", "target-clickhouse.load", "qtickets_pipeline")


class PipelineFailed(RuntimeError):
    """A run failed: `result` is the (first) failed account's, `results` every account's."""

    def __init__(self, result: RunResult, results: list[RunResult] | None = None) -> None:
        super().__init__(result.error)
        self.result, self.results = result, results or [result]


@dataclass(frozen=True)
class Window:
    """What the tap is asked for. The scheduled (default) run is incremental and saves the bookmark;
    --days / --since / --to are one-off reloads that leave the bookmark alone."""

    start: datetime | None  # None: from the bookmark (or QTICKETS_DAYS_BACK days on the first run)
    end: datetime | None
    save_state: bool
    full_refresh: bool

    def plugin_config(self, default_start: datetime) -> dict[str, str]:
        config = {"TAP_QTICKETS_START_DATE": (self.start or default_start).isoformat()}
        if self.end is not None:
            config["TAP_QTICKETS_END_DATE"] = self.end.isoformat()
        return config


def report_zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.report_tz)  # checked by load_settings


def resolve_window(settings: Settings, *, days: int | None = None, since: date | None = None,
                   to: date | None = None, full_refresh: bool = False) -> Window:
    tz = report_zone(settings)
    today = datetime.now(tz).date()
    if days is not None and (since or to):
        raise SettingsError("use either --days or --since/--to, not both")
    if full_refresh and (days is not None or since or to):
        raise SettingsError("--full-refresh reloads QTICKETS_DAYS_BACK days and moves the bookmark; it does "
                            "not combine with --days or --since/--to (one-off reloads that leave it alone)")
    if days is not None and days <= 0:
        raise SettingsError(f"--days must be positive, got {days}")
    if to and not since:
        raise SettingsError("--to needs --since")
    if since:
        if since > today:
            raise SettingsError(f"--since {since} is in the future (today is {today} in "
                                f"{settings.report_tz})")
        end_day = to or today
        if end_day < since:
            raise SettingsError(f"--to {end_day} is before --since {since}")
        end = datetime.combine(end_day, time(23, 59, 59), tz)
        return Window(datetime.combine(since, time(0, 0), tz), end, save_state=False, full_refresh=True)
    if days is not None:
        start = datetime.combine(today - timedelta(days=days), time(0, 0), tz)
        return Window(start, None, save_state=False, full_refresh=True)
    return Window(None, None, save_state=True, full_refresh=full_refresh)


def days_back_start(settings: Settings) -> datetime:
    tz = report_zone(settings)
    return datetime.combine(datetime.now(tz).date() - timedelta(days=settings.days_back), time(0, 0), tz)


@dataclass
class RunResult:
    """What one run did, as the target's ledger row has it (from its last log line)."""

    trigger: str
    account: str = ""  # the extractor (tap-qtickets, tap-qtickets--<x>)
    status: str = "failed"
    run_id: str = ""
    error: str = ""
    reason: str | None = None  # why the target refused the load (NO_PRIOR_LOAD)
    rows_loaded: dict[str, int] = field(default_factory=dict)
    row_changes: dict[str, dict[str, int]] = field(default_factory=dict)  # new/changed/unchanged per stream
    row_changes_seconds: float | None = None  # what telling them apart cost the target
    http_requests: dict[str, int] = field(default_factory=dict)
    window_start: str | None = None
    recorded: bool = False  # the target wrote this run's ledger row
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def seconds(self) -> float:
        return (datetime.now(UTC) - self.started_at).total_seconds()


class RunWatcher:
    """Reads one `meltano run`'s events: relays them to the log and keeps the target's outcome and the
    errors that explain a failure."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        self.errors: list[str] = []
        self.exit_codes: dict[str, int] = {}  # Meltano's, per plugin type (loaders, extractors)
        self.returncode = 0

    def take(self, event: dict | str) -> None:
        if isinstance(event, str):
            self.errors = [*self.errors[-9:], event]
            logs.get("meltano").debug("%s", event)
            return
        outcome = event.get("load")
        if isinstance(outcome, dict) and event.get("string_id") == meltano_cli.TARGET:
            self._take_outcome(outcome)
            if outcome.get("reason") == NO_PRIOR_LOAD:  # handled: run_pipeline says so in one line
                logs.relay(event, logging.DEBUG)
                return
        level = str(event.get("level", "")).lower()
        plugin = event.get("string_id")
        if isinstance(event.get("exit_codes"), dict):  # Meltano's verdict on the block: who failed, how
            self.exit_codes = {str(k): int(v) for k, v in event["exit_codes"].items() if isinstance(v, int)}
        if level in meltano_cli.ERROR_LEVELS:
            text = str(event.get("event") or "")
            if plugin in meltano_cli.PLUGINS and text.startswith(meltano_cli.PLUGINS):
                self.errors.append(text)  # our plugins' own one-line causes
        logs.relay(event, None if self.worth_showing(event) else logging.DEBUG)

    @staticmethod
    def worth_showing(event: dict) -> bool:
        """At its own level: the plugins' warnings, and the progress lines of this project's code; the rest
        is DEBUG: Meltano's and the SDK's own chatter, metrics, and the plugins' errors — the run's last line
        gives the cause, once."""
        if event.get("string_id") not in meltano_cli.PLUGINS:
            return False
        level = str(event.get("level", "")).lower()
        if level == "warning":
            return True
        return level == "info" and str(event.get("plugin_logger") or "").startswith(SHOWN_LOGGERS)

    def _take_outcome(self, outcome: dict) -> None:
        result = self.result
        result.recorded = True
        result.run_id = str(outcome.get("run_id") or result.run_id)
        result.status = str(outcome.get("status") or result.status)
        result.error = str(outcome.get("error") or "")
        result.reason = outcome.get("reason")
        result.rows_loaded = dict(outcome.get("rows_loaded") or {})
        result.row_changes = dict(outcome.get("row_changes") or {})
        result.row_changes_seconds = outcome.get("row_changes_seconds")
        result.http_requests = dict(outcome.get("http_requests") or {})
        result.window_start = outcome.get("window_start")

    def died(self) -> str | None:
        """A plugin that ended without saying why (killed, crashed), as Meltano saw it exit."""
        for kind, plugin in (("loaders", meltano_cli.TARGET), ("extractors", meltano_cli.TAP)):
            code = self.exit_codes.get(kind)
            if code:
                how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
                return f"{plugin} {how} before it recorded the load (see its log: LOG_LEVEL=DEBUG)"
        return None

    def cause(self, settings: Settings) -> str:
        """The failure in one line, naming the variable the user set."""
        text = self.result.error or (self.errors[-1] if self.errors else None) or self.died() or \
            f"meltano run {JOB_NAME} exited with code {self.returncode}"
        text = name_user_settings(redact(text, *settings.secrets), settings.env)
        refused = f"nothing listens at http://{DEMO.host}:{DEMO.port} (connection refused)"  # tap's words
        if settings.environment == "demo" and refused in text:
            text = text[:text.index(refused) + len(refused)] + ": start the demo's sandbox first: " \
                "qtickets-pipeline sandbox"
        return text


def _meltano_run(settings: Settings, account: Account, window: Window, trigger: str,
                 lock: RunLock) -> RunResult:
    result = RunResult(trigger=trigger, account=account.plugin)
    watcher = RunWatcher(result)
    plugin_config = {
        **window.plugin_config(days_back_start(settings)),
        "TARGET_CLICKHOUSE_RUN_TRIGGER": trigger,
        account.catalog_variable: str(preflight.catalog(settings, account.plugin)),
    }
    args = meltano_cli.run_args(account.plugin, full_refresh=window.full_refresh,
                                save_state=window.save_state)
    watcher.returncode = meltano_cli.run(settings, args, watcher.take, plugin_config, keep_fds=lock.fds,
                                         extractor=account.plugin)
    if result.status != "success":
        result.error = watcher.cause(settings)
    return result


def _load_account(settings: Settings, account: Account, window: Window, trigger: str,
                  lock: RunLock) -> RunResult:
    """One account's load (again as a full refresh when the warehouse holds none of it yet); failures are
    recorded and logged, not raised, so that the next account still loads."""
    result = _meltano_run(settings, account, window, trigger, lock)
    if result.reason == NO_PRIOR_LOAD:
        log.warning("%s holds no successful load of %s: loading the last %d days (QTICKETS_DAYS_BACK) "
                    "instead of the changes since the bookmark", settings.warehouse, account.plugin,
                    settings.days_back, extra={"fields": {"account": account.plugin}})
        full = Window(None, None, save_state=True, full_refresh=True)
        result = _meltano_run(settings, account, full, trigger, lock)
    fields = {"run_id": result.run_id, "account": account.plugin}
    if result.status != "success":
        if not result.recorded:
            _record_unrecorded(settings, result)
        log.error("run %s of %s failed: %s", result.run_id or "-", account.plugin, result.error,
                  extra={"fields": fields})
    else:
        totals = {kind: sum(c.get(kind, 0) for c in result.row_changes.values())
                  for kind in ("new", "changed", "unchanged")}
        log.info("run %s of %s succeeded in %.1f s: %s (%s)", result.run_id, account.plugin, result.seconds,
                 ", ".join(f"{n} {kind}" for kind, n in totals.items()) if result.row_changes
                 else f"{sum(result.rows_loaded.values())} rows loaded",
                 describe_changes(result.rows_loaded, result.row_changes),
                 extra={"fields": {**fields, "rows_loaded": result.rows_loaded,
                                   "row_changes": result.row_changes, "http_requests": result.http_requests}})
    return result


def _record_unrecorded(settings: Settings, result: RunResult) -> None:
    """A run whose target never recorded it (Meltano or the target failed first): one failed row."""
    from target_clickhouse import LedgerRow  # the driver, only where the warehouse is opened

    row = LedgerRow(job_name=LEDGER_JOB, trigger=result.trigger, environment=settings.environment,
                    started_at=result.started_at, account=result.account)
    row.finish("failed", result.error)
    try:
        with connect(settings) as client:
            runs = ledger(client, settings)
            runs.ensure_table()
            runs.write(row)
        result.run_id = row.run_id
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.warning("could not record the failed run in meta_job_runs: %s", redact(first, *settings.secrets))


def run_pipeline(settings: Settings, *, trigger: str = "cli", days: int | None = None,
                 since: date | None = None, to: date | None = None, full_refresh: bool = False,
                 accounts: tuple[str, ...] = ()) -> list[RunResult]:
    """Load every account of the project (or those named), one after the other. Returns their results
    (one `skipped` when another run holds the lock); raises PipelineFailed, after every account has had
    its turn, if any failed."""
    if trigger not in TRIGGERS:
        raise SettingsError(f"--trigger must be one of {', '.join(TRIGGERS)}, got {trigger!r}")
    window = resolve_window(settings, days=days, since=since, to=to, full_refresh=full_refresh)
    chosen = project_accounts.chosen(settings, accounts)
    with RunLock(settings.state_dir) as lock:
        if not lock.acquire():
            skipped = RunResult(trigger=trigger, status="skipped",
                                error=f"another run (pid {lock.holder_pid()}) is still active; nothing done")
            log.warning("skipped: %s", skipped.error)
            return [skipped]
        results = [_load_account(settings, account, window, trigger, lock) for account in chosen]
    failed = [result for result in results if result.status != "success"]
    if failed:
        raise PipelineFailed(failed[0], results)
    return results


def load(date_from: date | str | None = None, date_to: date | str | None = None, *,
         days: int | None = None, env_file: str | None = None, environment: str | None = None,
         full_refresh: bool = False) -> list[RunResult]:
    """Module use: `load()` (incremental), `load(date(2025, 10, 1), date(2025, 10, 31))` or `load(days=7)`.
    Raises PipelineFailed on any failure, bad arguments included."""
    try:
        settings = load_settings(env_file, environment)
        logs.configure(settings.env)
        since = _day(date_from, "date_from")
        to = _day(date_to, "date_to")
        return run_pipeline(settings, trigger="module", days=days, since=since, to=to,
                            full_refresh=full_refresh)
    except SettingsError as exc:
        raise PipelineFailed(RunResult(trigger="module", error=str(exc).replace("--", ""))) from None


def _day(value: date | str | None, name: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SettingsError(f"{name} must be a date like 2025-10-01, got {value!r}") from None
