"""In-process sandbox for tests and benches: real HTTP on loopback, server in a background thread."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal

from .clock import start_time
from .inventory import TICKET_TRUTH_FIELDS
from .server import Sandbox, base_url, make_server
from .simulate import HISTORY_DAYS


class SandboxServer:
    def __init__(
        self,
        seed: int = 1,
        orders: int = 300,
        events: int = 8,
        token: str = "sandbox-token",
        start_date: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        now: datetime | None = None,
        semantics: dict | None = None,
        webhooks: dict | None = None,
        history_days: int = HISTORY_DAYS,
    ):
        """`webhooks`: the body of POST /_sandbox/webhooks, applied once the history is built."""
        self.token = token
        self.sandbox = Sandbox(
            seed, now or start_time(start_date), orders, events, token, semantics, webhooks,
            history_days,
        )
        self._server = make_server(self.sandbox, host, port)
        self.base_url = base_url(self._server)
        self.root_url = self.base_url.rsplit("/api/rest/v1", 1)[0]
        self._thread: threading.Thread | None = None

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="qtickets-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.sandbox.close()
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- control API over HTTP (the same calls a separate process would make) ------------------------
    def _call(self, method: str, name: str, payload=None):
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(
            f"{self.root_url}/_sandbox/{name}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())

    def truth(self) -> dict:
        return self._call("GET", "truth")

    def advance(self, minutes: float) -> dict:
        return self._call("POST", "advance", {"minutes": minutes})

    def semantics(self) -> dict:
        return self._call("GET", "semantics")

    def set_semantics(self, **switches: bool) -> dict:
        return self._call("POST", "semantics", switches)

    def set_faults(self, rules: list[dict]) -> dict:
        return self._call("POST", "faults", {"rules": rules})

    def clear_faults(self) -> dict:
        return self._call("DELETE", "faults")

    def faults(self) -> list[dict]:
        return self._call("GET", "faults")["rules"]

    def requests(self) -> list[dict]:
        return self._call("GET", "requests")

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    # ---- webhooks and live activity ----------------------------------------------------------------
    def set_webhooks(self, url: str, secret: str = "", **settings) -> dict:
        """POST /_sandbox/webhooks: `settings` are time_scale, timeout, concurrency, max_pending, faults."""
        return self._call("POST", "webhooks", {"url": url, "secret": secret, **settings})

    def clear_webhooks(self) -> dict:
        return self._call("DELETE", "webhooks")

    def webhooks(self) -> dict:
        return self._call("GET", "webhooks")

    def webhook_log(self) -> list[dict]:
        return self._call("GET", "webhooks/log")

    def clear_webhook_log(self) -> None:
        self._call("DELETE", "webhooks/log")

    def wait_webhooks(self, timeout: float = 60.0) -> dict:
        """Poll until no delivery is pending (live activity finished first); the final status."""
        deadline = time.monotonic() + timeout
        while True:
            live = self.live_status()["running"]  # first: once it has ended, all its changes are queued
            status = self.webhooks()
            if status["stats"]["pending"] == 0 and not live:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"webhook deliveries still pending after {timeout} s: {status['stats']}")
            time.sleep(0.02)

    def start_live(self, changes_per_second: float, seconds: float, **options) -> dict:
        """POST /_sandbox/live: `options` are clock_step_seconds and mix."""
        return self._call("POST", "live", {"changes_per_second": changes_per_second, "seconds": seconds,
                                           **options})

    def live_status(self) -> dict:
        return self._call("GET", "live")

    def stop_live(self) -> dict:
        return self._call("DELETE", "live")

    def wait_live(self, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        while (status := self.live_status())["running"]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"live activity still running after {timeout} s: {status}")
            time.sleep(0.02)
        return status


# ---- comparing a warehouse (or a tap's records) with the truth, field for field ----------------------
MONEY_FIELDS = ("price", "original_price", "discount_value", "refunded_amount")
TIME_FIELDS = ("refunded_at", "checked_at", "payed_at", "order_updated_at", "updated_at", "order_deleted_at",
               "deleted_at")
_CENT = Decimal("0.01")


def _money(value) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(_CENT)


def _instant(value) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def comparable_ticket(row: dict, fields: tuple[str, ...] = TICKET_TRUTH_FIELDS) -> tuple:
    """`fields` of a ticket (truth, view row or sale record) in one form: money as Decimal with 2 places,
    date-times as aware UTC datetimes (naive ones are UTC, as clickhouse-connect returns them)."""
    return tuple(_money(row.get(f)) if f in MONEY_FIELDS else _instant(row.get(f)) if f in TIME_FIELDS
                 else row.get(f) for f in fields)


def expected_tickets(truth: dict, fields: tuple[str, ...] = TICKET_TRUTH_FIELDS) -> dict[int, tuple]:
    """ticket_id → `comparable_ticket` of every paid ticket in `/_sandbox/truth`."""
    return {t["ticket_id"]: comparable_ticket(t, fields) for t in truth["tickets"]}
