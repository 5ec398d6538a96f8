"""Webhook deliveries as production QTickets makes them (qtickets-api.md §11): one POST per order change.

The state tells `WebhookHub.order_changed` about every change (model.State.changed); the hub serialises the
order at that moment and queues a delivery. Sender threads POST due deliveries and retry failures (anything
but HTTP 200) after attempt³ seconds, 10 attempts in all. Nothing is queued while no URL is configured.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import http.client
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from . import wire
from .model import State
from .timefmt import fmt
from .webhook_config import MAX_ATTEMPTS, Config, parse_config, retry_wait

LOG_LIMIT = 100_000  # newest deliveries kept by GET /_sandbox/webhooks/log
HOLD_FLUSH_SECONDS = 0.5  # an out_of_order delivery is let go once the sender has been idle this long
USER_AGENT = "Qtickets-Webhooks/2.0"
# Keys production adds to the order object (§5.1); exchanges and services are not simulated.
PAYLOAD_EXTRAS: dict[str, object] = {
    "primary_orders": [],
    "secondary_orders": [],
    "refunded_baskets": [],
    "checked_basket": None,
    "unchecked_basket": None,
    "checked_service": None,
    "unchecked_service": None,
}
OUTCOMES = ("delivered", "gave_up", "dropped", "overflow", "discarded")


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def payload(detail: dict, extra: dict) -> bytes:
    """The webhook body: the order as GET /orders/{id} shows it (no `data` wrapper) plus the webhook keys;
    the client's details carry `telegram_user` as only webhooks do (§5.1)."""
    client = detail["client"]
    body = {**detail, "client": {**client, "details": {**client["details"], "telegram_user": None}}}
    return wire.dumps({**body, **PAYLOAD_EXTRAS, **extra})


def _wall() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Delivery:
    id: int
    event: str
    body: bytes
    entry: dict  # its row in the log, updated as it goes
    copies: int = 1  # 2 with the `duplicate` fault
    copy: int = 1
    attempt: int = 0  # attempts made for the current copy
    wait: float = 0.0  # planned seconds before the next attempt (logged with it)
    hold: int = 0  # out_of_order: later deliveries still to go first
    enqueued: float = 0.0  # monotonic time it was queued: a released out_of_order delivery keeps its place


class _Connection:
    """One kept-alive HTTP connection per sender thread, reopened when the URL's host changes."""

    def __init__(self):
        self._conn: http.client.HTTPConnection | None = None
        self._key: tuple | None = None

    def post(self, config: Config, event: str, body: bytes) -> tuple[int | None, str | None]:
        parts = urlsplit(config.url)
        key = (parts.scheme, parts.netloc, config.timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Event-Type": event,
            "X-Model-Name": "Order",
            "X-Signature": sign(body, config.secret),
        }
        for reused in (True, False):
            if self._conn is None or self._key != key:
                self.close()
                cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
                self._conn, self._key, reused = cls(parts.netloc, timeout=config.timeout), key, False
            try:
                self._conn.request("POST", target, body=body, headers=headers)
                response = self._conn.getresponse()
                response.read()
                if response.will_close:
                    self.close()
                return response.status, None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                stale = isinstance(exc, (http.client.RemoteDisconnected, ConnectionError))
                if not (reused and stale):  # a kept-alive connection the receiver closed: reopen once
                    return None, f"{type(exc).__name__}: {exc}"[:200]
        return None, "unreachable"  # pragma: no cover - the loop always returns

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None


class WebhookHub:
    """Queue, sender threads and log of webhook deliveries (one per sandbox)."""

    def __init__(self, state: State):
        self._state = state
        self._cond = threading.Condition()
        self._config: Config | None = None
        self._generation = 0  # bumped on every (re)configuration: older sender threads retire
        self._threads: list[threading.Thread] = []
        self._heap: list[tuple[float, int, Delivery]] = []  # (due, id, delivery)
        self._held: list[Delivery] = []
        self._in_flight = 0
        self._last_activity = time.monotonic()
        self._log: deque[dict] = deque(maxlen=LOG_LIMIT)
        self._stats: Counter = Counter()
        self._next_id = 1

    # ---- configuration ------------------------------------------------------------------------------
    def configure(self, raw) -> dict:
        """Replace the settings (BadWebhooks on bad input); queued deliveries carry on under the new ones."""
        config = parse_config(raw)
        with self._cond:
            self._config = config
            self._generation += 1
            self._threads = [t for t in self._threads if t.is_alive()]
            for _ in range(config.concurrency):
                thread = threading.Thread(target=self._send_loop, args=(self._generation,),
                                          name="qtickets-sandbox-webhooks", daemon=True)
                thread.start()
                self._threads.append(thread)
            self._cond.notify_all()
        return self.status()

    def clear(self) -> dict:
        """Stop sending: every queued delivery is discarded (logged so), nothing new is queued."""
        with self._cond:
            self._config = None
            self._generation += 1
            for delivery in [d for _, _, d in self._heap] + self._held:
                self._finish(delivery, "discarded")
            self._heap.clear()
            self._held.clear()
            self._cond.notify_all()
        return self.status()

    def close(self) -> None:
        """clear() and wait briefly for the sender threads (an attempt in flight may outlast the wait)."""
        self.clear()
        for thread in self._threads:
            thread.join(timeout=2)

    def status(self) -> dict:
        with self._cond:
            config = self._config.describe() if self._config else {"url": None}
            pending = len(self._heap) + len(self._held) + self._in_flight
            stats = {"enqueued": self._stats["enqueued"], "pending": pending, "in_flight": self._in_flight,
                     "held": len(self._held), "attempts": self._stats["attempts"],
                     **{k: self._stats[k] for k in OUTCOMES}}
            return {**config, "stats": stats}

    def log(self) -> list[dict]:
        with self._cond:
            return [{**e, "attempts": list(e["attempts"])} for e in self._log]

    def clear_log(self) -> None:
        with self._cond:
            self._log.clear()

    # ---- enqueue (called by the state, under its lock, right after each change) -------------------------
    def order_changed(self, event: str, order: dict, extra: dict) -> None:
        if self._config is None:
            return
        body = payload(self._state.order_detail(order["id"]), extra)
        with self._cond:
            config = self._config
            if config is None:
                return
            self._stats["enqueued"] += 1
            entry = {"id": self._next_id, "event": event, "order_id": order["id"],
                     "changed_at": fmt(self._state.now), "bytes": len(body), "fault": None,
                     "outcome": "pending", "attempts": []}
            self._next_id += 1
            self._log.append(entry)
            delivery = Delivery(entry["id"], event, body, entry)
            if len(self._heap) + len(self._held) + self._in_flight >= config.max_pending:
                self._finish(delivery, "overflow")
                return
            due = delivery.enqueued = self._last_activity = time.monotonic()
            fault = config.faults.decide()
            if fault is not None:
                entry["fault"] = fault.kind
                if fault.kind == "dropped":
                    self._finish(delivery, "dropped")
                    return
                if fault.kind == "duplicate":
                    delivery.copies = 2
                elif fault.kind == "out_of_order":
                    delivery.hold = fault.params["hold"]
                    self._held.append(delivery)
                    return
                elif fault.kind == "delayed":
                    delivery.wait = fault.params["seconds"] / config.time_scale
                    due += delivery.wait
            self._push(due, delivery)

    # ---- sending -------------------------------------------------------------------------------------
    def _push(self, due: float, delivery: Delivery) -> None:
        heapq.heappush(self._heap, (due, delivery.id, delivery))
        self._cond.notify()

    def _finish(self, delivery: Delivery, outcome: str) -> None:
        delivery.entry["outcome"] = outcome
        delivery.entry.pop("next_attempt_in", None)
        self._stats[outcome] += 1

    def _release_held(self, now: float, started: Delivery | None) -> None:
        """out_of_order deliveries go once `hold` later ones have started, or when the sender is idle."""
        due = self._heap and self._heap[0][0] <= now
        idle = not due and not self._in_flight and now - self._last_activity >= HOLD_FLUSH_SECONDS
        keep = []
        for held in self._held:
            if started is not None and started.id > held.id:
                held.hold -= 1
            if held.hold <= 0 or idle:
                self._push(held.enqueued, held)
            else:
                keep.append(held)
        self._held = keep

    def _next(self, generation: int) -> tuple[Config, Delivery] | None:
        """Wait for a due delivery (None: this sender thread is retired)."""
        with self._cond:
            while True:
                if self._generation != generation or self._config is None:
                    return None
                now = time.monotonic()
                if self._held:
                    self._release_held(now, None)
                if self._heap and self._heap[0][0] <= now:
                    delivery = heapq.heappop(self._heap)[2]
                    self._in_flight += 1
                    if delivery.attempt == 0 and delivery.copy == 1 and self._held:
                        self._release_held(now, delivery)
                    return self._config, delivery
                wake = [self._heap[0][0] - now] if self._heap else []
                if self._held:
                    wake.append(max(0.0, self._last_activity + HOLD_FLUSH_SECONDS - now) + 0.01)
                self._cond.wait(min(wake) if wake else None)

    def _send_loop(self, generation: int) -> None:
        connection = _Connection()
        try:
            while (job := self._next(generation)) is not None:
                config, delivery = job
                delivery.attempt += 1
                at = _wall()
                status, error = connection.post(config, delivery.event, delivery.body)
                self._record(delivery, at, status, error)
        finally:
            connection.close()

    def _record(self, delivery: Delivery, at: str, status, error) -> None:
        with self._cond:
            self._in_flight -= 1
            self._stats["attempts"] += 1
            now = self._last_activity = time.monotonic()
            attempt = {"n": delivery.attempt, "at": at, "wait": round(delivery.wait, 6), "status": status}
            if error:
                attempt["error"] = error
            if delivery.copies > 1:
                attempt["copy"] = delivery.copy
            delivery.entry["attempts"].append(attempt)
            if status == 200 and delivery.copy < delivery.copies:  # duplicate: the same POST once more
                delivery.copy, delivery.attempt, delivery.wait = delivery.copy + 1, 0, 0.0
                self._push(delivery.enqueued, delivery)
            elif status == 200:
                self._finish(delivery, "delivered")
            elif self._config is None:
                self._finish(delivery, "discarded")
            elif delivery.attempt >= MAX_ATTEMPTS:
                self._finish(delivery, "gave_up")
            else:
                delivery.wait = retry_wait(delivery.attempt, self._config.time_scale)
                delivery.entry["next_attempt_in"] = round(delivery.wait, 6)
                self._push(now + delivery.wait, delivery)
            self._cond.notify_all()
