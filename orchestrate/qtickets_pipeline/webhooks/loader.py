"""The receiver's loader: a thread that drains the spool into the warehouse in batches.

A batch is every durable frame not loaded yet (at most `BATCH_FRAMES`), taken as soon as there is one: while
a batch loads, the next one gathers, so the batch size follows the arrival rate. Per batch:
1. the bodies become `orders` and `sales` records (payloads.py: the tap's normaliser and PII rules); a body
   that cannot (not an order) is set aside in `rejected.log`, with the reason logged;
2. the warehouse is opened — with embedded ClickHouse only for the batch, so that scheduled runs and readers
   (`sql`, `status`) get the directory in between (each opener waits for the others: the lock wait; the
   loader pauses `TURN_SECONDS` after a batch, so a waiting process always finds it free);
   a server's client is kept;
3. the records are inserted into staging through target-clickhouse's connector (as its sink would), the
   marts and views are brought up to date (after_load.refresh_warehouse), and one ledger row per account
   is written to meta_job_runs (job `qtickets-webhooks`, trigger `webhook`, rows per stream, the receive
   times of the batch's first and last body as its window);
4. only then the spool's cursor moves past the batch.
A failure (the warehouse unreachable or busy beyond the lock wait, no scheduled run has created staging
yet) keeps everything in the spool: the same batch is tried again after 1, 2, 4 … 30 s, with one log line
when the failures start and one when they end. A batch loaded twice (a crash before the cursor moved) is
harmless: the marts keep the newest version of each ticket by the source's own `updated_at`s.
"""

from __future__ import annotations

import threading
import time
import typing as t
import uuid
from datetime import UTC, datetime
from pathlib import Path

from .. import after_load, logs, report, warehouse, watermarks
from ..settings import WEBHOOK_JOB, Settings
from . import payloads
from .spool import Frame, Spool

if t.TYPE_CHECKING:
    from tap_qtickets.order_records import OrderRecords
    from target_clickhouse import ClickHouseConnector

log = logs.get("webhooks")

JOB_NAME = WEBHOOK_JOB
TRIGGER = "webhook"
BATCH_FRAMES = 5000
IDLE_WAIT_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
REPORT_EVERY_SECONDS = 60.0  # the HTML report is redrawn at most this often from webhook batches
REJECTED = "rejected.log"
# Embedded ClickHouse: the pause between two batches, well above how often a process waiting for the
# directory probes it (target_clickhouse's LOCK_PROBE_SECONDS, 0.05 s), so a run or a reader gets its turn.
TURN_SECONDS = 0.2
STREAMS = ("orders", "sales")


class NotReady(RuntimeError):
    """The warehouse cannot take webhook rows yet (no scheduled run has created its staging tables)."""


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


_NEVER = datetime.min.replace(tzinfo=UTC)


def _instant(value: t.Any) -> datetime:
    if value is None or value == "":
        return _NEVER
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _version(updated: t.Any, order_updated: t.Any) -> tuple[datetime, datetime, datetime]:
    """A ticket state's version, as 10_sales_changes.sql orders them (payloads.ticket_version)."""
    own, order = _instant(updated), _instant(order_updated)
    return max(own, order), own, order


class Loader(threading.Thread):
    def __init__(self, settings: Settings, spool: Spool, *, latency_log: Path | None = None) -> None:
        super().__init__(name="webhook-loader", daemon=True)
        self.settings, self.spool = settings, spool
        self.latency_log = latency_log
        self.stopping = threading.Event()
        self.loaded = 0  # bodies put into the warehouse by this process
        self._converters: dict[str, OrderRecords] = {}
        self._connector: ClickHouseConnector | None = None
        self._ledger_ready = False
        self._report_at = 0.0
        self._failing_since: float | None = None

    # --- the loop ------------------------------------------------------------------------------------

    def run(self) -> None:
        cursor = self.spool.cursor()
        backoff = 1.0
        while not self.stopping.is_set():
            frames = self.spool.read(cursor, BATCH_FRAMES)
            if not frames:
                self.spool.wait(cursor, IDLE_WAIT_SECONDS)
                continue
            try:
                self.load(frames)
            except Exception as exc:  # kept in the spool, tried again
                self._failed(exc, frames)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            backoff = 1.0
            cursor = frames[-1].end
            self.spool.consume(cursor)
            self._recovered()
            if self.settings.is_embedded:
                self.stopping.wait(TURN_SECONDS)  # the directory is free: a waiting run or reader gets it
        self._close()

    def stop(self, timeout: float = 60.0) -> None:
        """Let the batch in hand finish, then end the thread."""
        self.stopping.set()
        self.join(timeout)

    def _failed(self, exc: Exception, frames: list[Frame]) -> None:
        self._close()
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            log.warning("webhooks: cannot load into the warehouse (%s): %d+ payloads kept in the spool, "
                        "trying again with backoff (up to %d s)", first[:300], len(frames),
                        MAX_BACKOFF_SECONDS)
        else:
            log.debug("webhooks: still cannot load: %s", exc)

    def _recovered(self) -> None:
        if self._failing_since is not None:
            log.info("webhooks: loading again after %.0f s", time.monotonic() - self._failing_since)
            self._failing_since = None

    # --- one batch -----------------------------------------------------------------------------------

    def converter(self, account: str) -> OrderRecords:
        if account not in self._converters:
            from tap_qtickets.order_records import OrderRecords  # the tap: only where payloads are read

            self._converters[account] = OrderRecords(account)
        return self._converters[account]

    def records(self, frames: list[Frame]) -> dict[str, tuple[payloads.Records, list[float]]]:
        """account → (its records, the receive times of its bodies); bodies that are not orders set aside."""
        out: dict[str, tuple[payloads.Records, list[float]]] = {}
        for frame in frames:
            records, received = out.setdefault(frame.account, (payloads.Records(), []))
            try:
                convert = self.converter(frame.account)
                payloads.to_records(convert, payloads.decode(frame.body), records)
            except payloads.PayloadError as exc:
                self._reject(frame, str(exc))
                continue
            received.append(frame.received_at)
        return out

    def load(self, frames: list[Frame]) -> None:
        started = time.time()
        batch = self.records(frames)
        steps = {"records": time.time()}
        connector = self._open()
        client = connector.client
        needed = {connector.table_name(stream) for stream in watermarks.STREAMS}
        missing = sorted(needed - connector.existing_tables())
        if missing:
            raise NotReady(f"{self.settings.warehouse} has no {', '.join(missing)} yet: run "
                           "`qtickets-pipeline run` once; the payloads wait in the spool until then")
        steps["open"] = time.time()
        rows: dict[str, dict[str, int]] = {}
        for account, (everything, received) in batch.items():
            if not received:
                continue
            records = self.not_stale(client, account, everything.newest())
            schemas = self.converter(account).schemas
            from tap_qtickets.order_records import KEY_PROPERTIES

            extracted = _utc(min(received))
            rows[account] = {stream: connector.insert_records(
                stream, schemas[stream], KEY_PROPERTIES,
                [(record, extracted) for record in getattr(records, stream)]) for stream in STREAMS}
            if records.ids_left:
                shown = ", ".join(map(str, records.ids_left[:5]))
                log.info("webhooks: %d exchanged orders of %s came as ids only (%s): the next scheduled run "
                         "reads them", len(records.ids_left), account, shown)
        run_id = uuid.uuid4().hex
        from target_clickhouse import LoadSummary

        total = {stream: sum(r[stream] for r in rows.values()) for stream in STREAMS}
        steps["insert"] = time.time()
        after_load.refresh_warehouse(connector, LoadSummary(run_id, JOB_NAME, total), settings=self.settings,
                                     redraw_report=False)
        visible = steps["refresh"] = time.time()
        self._record(client, started, rows, batch)
        steps["ledger"] = time.time()
        if time.monotonic() - self._report_at >= REPORT_EVERY_SECONDS:  # after the batch is visible
            report.refresh(client, self.settings)
            self._report_at = time.monotonic()
        if self.settings.is_embedded:
            self._close()  # the directory is free for runs and readers until the next batch
        self.loaded += sum(len(received) for _, received in batch.values())
        timings, last = [], started
        for step, at in steps.items():
            timings.append(f"{step} {at - last:.2f}")
            last = at
        log.info("webhooks: %d payloads loaded (%s) in %.2f s (%s), oldest received %.2f s before",
                 len(frames), ", ".join(f"{a}: {r['orders']} orders, {r['sales']} tickets"
                                        for a, r in rows.items()) or "nothing to load",
                 visible - started, ", ".join(timings), visible - min(f.received_at for f in frames))
        if self.latency_log is not None:
            with open(self.latency_log, "a") as handle:
                handle.writelines(f"{frame.received_at:.6f} {visible:.6f}\n" for frame in frames)

    def not_stale(self, client, account: str, records: payloads.Records) -> payloads.Records:
        """Without the tickets the views already show in a newer state (by the source's stamps), nor the
        orders all of whose tickets are such: a body delivered late or again adds nothing to staging, where
        a later arrival would otherwise outlive the newer row when ClickHouse merges the versions."""
        ids = [record["id"] for record in records.sales]
        if not ids:
            return records
        rows = client.query(
            f"SELECT ticket_id, updated_at, order_updated_at FROM {self.settings.database}.mart_sales "
            "WHERE account = {account:String} AND has({ids:Array(Int64)}, ticket_id)",
            parameters={"account": account, "ids": ids}).result_rows
        shown = {int(ticket): _version(updated, order_updated) for ticket, updated, order_updated in rows}
        sales, stale_orders, fresh_orders = [], set(), set()
        for record in records.sales:
            known = shown.get(int(record["id"]))
            version = _version(record.get("updated_at"), record.get("order_updated_at"))
            if known is not None and version < known:
                stale_orders.add(record.get("order_id"))
            else:
                sales.append(record)
                fresh_orders.add(record.get("order_id"))
        orders = [order for order in records.orders
                  if order.get("id") not in stale_orders or order.get("id") in fresh_orders]
        return payloads.Records(orders, sales, records.ids_left)

    def _record(self, client, started: float, rows: dict[str, dict[str, int]],
                batch: dict[str, tuple[payloads.Records, list[float]]]) -> None:
        from target_clickhouse import LedgerRow

        ledger = warehouse.ledger(client, self.settings)
        if not self._ledger_ready:
            ledger.ensure_table()
            self._ledger_ready = True
        for account, counts in rows.items():
            received = batch[account][1]
            row = LedgerRow(job_name=JOB_NAME, trigger=TRIGGER, environment=self.settings.environment,
                            started_at=_utc(started), account=account, rows_loaded=dict(counts),
                            records_extracted={"webhooks": len(received), **counts},
                            window_start=_utc(min(received)), window_end=_utc(max(received)))
            row.finish("success")
            ledger.write(row)

    def _reject(self, frame: Frame, reason: str) -> None:
        log.error("webhooks: a %s payload of %s cannot be loaded (%s); kept in %s", frame.event or "?",
                  frame.account, reason[:300], REJECTED)
        with open(self.spool.directory / REJECTED, "ab") as handle:
            handle.write(f"# {_utc(frame.received_at).isoformat()} {frame.account} {frame.event}: "
                         f"{reason[:300]}\n".encode() + frame.body + b"\n")

    # --- the warehouse -------------------------------------------------------------------------------

    def _open(self) -> ClickHouseConnector:
        if self._connector is None:
            self._connector = warehouse.connector(self.settings)
        self._connector.open_client()
        return self._connector

    def _close(self) -> None:
        if self._connector is not None:
            try:
                self._connector.close()
            except Exception as exc:  # a broken connection: opened anew next time
                log.debug("webhooks: closing the warehouse: %s", exc)
            self._connector = None
