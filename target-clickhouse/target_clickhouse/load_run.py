"""One load, from the target's first message to its commit.

- The load is recorded in the ledger (`ledger.py`) as `running` when the first message arrives, and as
  `success` or `failed` (with the cause) when it ends, whatever started it.
- A tap that reports its sync in its STATE (a `sync` object with `status` running/complete/failed, as
  tap-qtickets does) is believed: input that ends before the report says `complete` is a failed load,
  with the tap's own cause when it gave one. A tap without such a report is complete at end of input.
- Nothing is committed before the end: the STATE the tap sent is emitted once, after the rows are
  inserted, the after-load hook has run and the ledger says `success`. So Meltano saves a bookmark only
  for a load the warehouse recorded as successful, and a failed or killed load never advances it.
- A tap that resumes from a bookmark (`sync.mode` incremental) into a warehouse that holds no successful
  load of it (a new URL or database, dropped tables) would load only the changes since that bookmark:
  the load is refused at once, naming the fix (a full refresh).
- The after-load hook (setting `after_load`, `module:function`) gets the connector and a `LoadSummary`
  before `success` is recorded: the place to bring derived tables up to date in the same process.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import typing as t
from dataclasses import dataclass
from datetime import UTC, datetime

from target_clickhouse.changes import describe_changes
from target_clickhouse.errors import NO_PRIOR_LOAD, ConfigError, TargetClickHouseError
from target_clickhouse.ledger import FAILED, SUCCESS, Ledger, LedgerRow
from target_clickhouse.redaction import redact

if t.TYPE_CHECKING:
    from target_clickhouse.connector import ClickHouseConnector

SYNC_KEY = "sync"  # where a tap reports its sync in its STATE (tap-qtickets: sync_report.py)
COMPLETE, INCREMENTAL = "complete", "incremental"
DEFAULT_JOB_NAME = "singer"
DEFAULT_TRIGGER = "meltano"
RECORDED = "recorded in the load ledger"  # the note on an exception whose load was recorded as failed

logger = logging.getLogger("target-clickhouse.load")


@dataclass(frozen=True)
class LoadSummary:
    """What the after-load hook is told about the load it follows."""

    run_id: str
    job_name: str
    rows_loaded: dict[str, int]  # rows inserted per stream (0 for a stream that sent none)


AfterLoad = t.Callable[["ClickHouseConnector", LoadSummary], t.Any]


class LoadRefusedError(TargetClickHouseError):
    """The load must not happen as asked (the `reason` says why, for callers)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class SyncIncompleteError(TargetClickHouseError):
    """The input ended before the tap reported a complete sync."""


class Interrupted(SystemExit):
    """A termination signal (SIGTERM from Meltano or systemd, Ctrl-C) ends the load, uncommitted."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def _recorded(exc: TargetClickHouseError) -> TargetClickHouseError:
    exc.add_note(RECORDED)
    return exc


def was_recorded(exc: BaseException) -> bool:
    """Whether `exc` ended a load that is already recorded (and logged) as failed."""
    return RECORDED in getattr(exc, "__notes__", ())


def load_hook(spec: str | None) -> AfterLoad | None:
    """The callable named by `module:function` (None when unset); a ConfigError naming the setting."""
    if not spec:
        return None
    module_name, _, attribute = spec.partition(":")
    try:
        hook = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"setting 'after_load': cannot load {spec!r} ({reason})") from None
    if not callable(hook):
        raise ConfigError(f"setting 'after_load': {spec!r} is not callable")
    return t.cast("AfterLoad", hook)


def _instant(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class LoadRun:
    """The current load of a target (one per process)."""

    def __init__(self, connector: ClickHouseConnector, config: t.Mapping[str, t.Any],
                 secrets: t.Sequence[str] = ()) -> None:
        self.connector = connector
        self.hook = load_hook(config.get("after_load"))
        self.row = LedgerRow(job_name=str(config.get("job_name") or ""),
                             trigger=str(config.get("run_trigger") or DEFAULT_TRIGGER),
                             environment=os.environ.get("MELTANO_ENVIRONMENT", ""))
        self.secrets = [s for s in secrets if s]
        self.state: dict | None = None
        self.report: dict | None = None
        self._ledger: Ledger | None = None
        self.ended = False
        self.reason: str | None = None  # why a load was refused (NO_PRIOR_LOAD), for callers
        self.row_changes: dict[str, dict[str, int]] = {}  # new / changed / unchanged per stream (changes.py)
        self.row_changes_seconds: float | None = None

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            connector = self.connector
            self._ledger = Ledger(connector.client, connector.database, flavour=connector.engine_flavour,
                                  cluster=connector.cluster)
        return self._ledger

    @property
    def begun(self) -> bool:
        return self._ledger is not None

    def begin(self) -> None:
        """Record the load as running (once); refuse it when it would load from a bookmark the warehouse
        does not hold."""
        if self.begun:
            return
        row = self.row
        row.job_name = row.job_name or str((self.report or {}).get("tap") or DEFAULT_JOB_NAME)
        ledger = self.ledger
        ledger.ensure_table()
        for run_id in ledger.close_dead(row.job_name, row):
            logger.warning("load %s of %s was left running by a process that died: recorded as failed",
                           run_id, row.job_name)
        if (self.report or {}).get("mode") == INCREMENTAL and not self._holds_a_load():
            message = (
                f"{self.connector.redacted_url} database {self.connector.database} holds no successful load "
                f"of {row.job_name} (a new warehouse or database, or its tables were dropped), but "
                f"{row.job_name} resumes from its bookmark and would send only the changes since then: "
                "run a full refresh instead (`qtickets-pipeline run` starts one by itself; with Meltano: "
                f"`meltano run --full-refresh {row.job_name} target-clickhouse`)"
            )
            self.fail(message, reason=NO_PRIOR_LOAD)
            raise _recorded(LoadRefusedError(message, NO_PRIOR_LOAD))
        ledger.write(row)
        logger.info("load %s of %s started (%s)", row.run_id, row.job_name, row.trigger,
                    extra={"load": {"run_id": row.run_id, "status": row.status, "job": row.job_name}})

    def _holds_a_load(self) -> bool:
        last = self.ledger.last_success(self.row.job_name, self.row.account)
        if last is None:
            return False
        tables = {self.connector.table_name(stream) for stream in last.rows_loaded}
        present = self.connector.existing_tables()
        return tables <= present

    def take_state(self, state: t.Any) -> None:
        """A STATE message's value: kept for the commit; its sync report (if any) read."""
        if not isinstance(state, dict):
            return
        self.state = state
        report = state.get(SYNC_KEY)
        if isinstance(report, dict):
            self.report = report
            row = self.row
            row.window_start = _instant(report.get("window_start")) or row.window_start
            row.window_end = _instant(report.get("window_end")) or row.window_end
            row.full_refresh = report.get("mode") != INCREMENTAL
            row.account = str(report.get("account") or "")
            requests = report.get("requests")
            if isinstance(requests, dict):
                row.http_requests = {str(k): int(v) for k, v in requests.items() if isinstance(v, int)}
        self.begin()

    def commit(self) -> None:
        """After every row is inserted: check the sync completed, run the hook, record success, emit the
        STATE. Raises (after recording the failure) when the load cannot be committed."""
        self.begin()
        row = self.row
        row.rows_loaded = self.connector.rows_loaded()
        row.records_extracted = dict(row.rows_loaded)
        report = self.report
        if report is not None and report.get("status") != COMPLETE:
            cause = str(report.get("error") or "") or (
                f"the input ended before {row.job_name} reported the end of its sync (it stopped or was "
                "killed; see its log)")
            self.fail(cause)
            raise _recorded(SyncIncompleteError(f"nothing committed: {cause}"))
        self.classify_rows()
        if self.hook is not None:
            summary = LoadSummary(row.run_id, row.job_name, dict(row.rows_loaded))
            try:
                self.hook(self.connector, summary)
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                message = f"after-load step failed: {first}"
                self.fail(message)
                raise _recorded(TargetClickHouseError(message)) from exc
        row.state = json.dumps(self.state, separators=(",", ":")) if self.state is not None else ""
        row.finish(SUCCESS)
        self.ledger.write(row)
        self.ended = True
        if self.state is not None:  # as Singer targets emit state: the value alone, one line
            sys.stdout.write(json.dumps(self.state) + "\n")
            sys.stdout.flush()
        logger.info("load %s of %s succeeded: %d rows (%s)", row.run_id, row.job_name,
                    sum(row.rows_loaded.values()), describe_changes(row.rows_loaded, self.row_changes),
                    extra={"load": self.outcome()})

    def classify_rows(self) -> None:
        """New / changed / unchanged rows per stream (the connector classified each batch as it went in)."""
        changes = self.connector.row_changes()
        self.row_changes = {stream: counts.as_dict() for stream, counts in changes.items()}
        self.row_changes_seconds = round(self.connector.classify_seconds, 3)

    def abort(self, exc: BaseException) -> None:
        """Reading ended early with `exc`: the load is recorded as failed with its cause (once)."""
        if isinstance(exc, Interrupted):
            cause = f"target-clickhouse was stopped by signal {exc.signum} before the load was committed"
        elif isinstance(exc, TargetClickHouseError):
            cause = str(exc)
        else:
            first = (str(exc).strip().splitlines() or [""])[0]
            cause = f"target-clickhouse failed: {type(exc).__name__}: {first}"
        self.fail(cause)
        if RECORDED not in getattr(exc, "__notes__", ()):
            exc.add_note(RECORDED)

    def fail(self, error: str, reason: str | None = None) -> None:
        """Record the load as failed with `error` (secrets removed), once; never raises."""
        if self.ended:
            return
        self.ended = True
        self.reason = reason
        row = self.row
        row.rows_loaded = self.connector.rows_loaded()
        row.records_extracted = dict(row.rows_loaded)
        row.finish(FAILED, redact(error, *self.secrets))
        try:
            self.ledger.write(row)
        except Exception as exc:  # the warehouse itself may be what failed
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            logger.warning("could not record load %s as failed: %s", row.run_id, redact(first, *self.secrets))
        logger.error("load %s of %s failed: %s", row.run_id, row.job_name or DEFAULT_JOB_NAME, row.error,
                     extra={"load": self.outcome()})

    def outcome(self) -> dict[str, t.Any]:
        """The load's result as one object, logged with its last line (callers read it from the log)."""
        row = self.row
        return {"run_id": row.run_id, "job": row.job_name, "status": row.status, "error": row.error,
                "reason": self.reason, "account": row.account,
                "rows_loaded": row.rows_loaded, "row_changes": self.row_changes,
                "row_changes_seconds": self.row_changes_seconds, "http_requests": row.http_requests,
                "window_start": row.window_start.isoformat() if row.window_start else None,
                "window_end": row.window_end.isoformat() if row.window_end else None}
