"""HTTP layer: stdlib ThreadingHTTPServer, fault application, request log and the /_sandbox control API."""

from __future__ import annotations

import gc
import json
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import replace
from datetime import datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

from . import inventory, wire
from .api import API_PREFIX, Api, Quirks, Response, json_response
from .faults import BadRule, FaultBook
from .live import BadLive, LiveActivity, LiveBusy
from .model import BadSemantics, parse_semantics
from .simulate import HISTORY_DAYS, Simulation
from .webhook_config import BadWebhooks
from .webhooks import WebhookHub

CONTROL_PREFIX = "/_sandbox/"
LOG_LIMIT = 200_000  # newest API requests kept by GET /_sandbox/requests
_INJECTED = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}


class Sandbox:
    """One synthetic organiser: simulation + API + faults + request log + webhooks + live activity (shared by
    all handler threads)."""

    def __init__(
        self,
        seed: int,
        now: datetime,
        orders: int,
        events: int,
        token: str,
        semantics: dict | None = None,
        webhooks: dict | None = None,
        history_days: int = HISTORY_DAYS,
    ):
        # Millions of long-lived, acyclic objects make GC passes slow: pause it while building, then
        # exempt what was built from collection.
        gc.disable()
        try:
            self.sim = Simulation(seed, now, orders, events, semantics, history_days)
        finally:
            gc.enable()
            gc.freeze()
        self.state = self.sim.state
        self.api = Api(self.state, token)
        self.faults = FaultBook()
        self._log: deque[dict] = deque(maxlen=LOG_LIMIT)
        self._log_lock = threading.Lock()
        self._in_flight = 0
        # Attached after the history is built: only changes from now on send webhooks.
        self.webhooks = WebhookHub(self.state)
        self.state.observer = self.webhooks.order_changed
        if webhooks is not None:
            self.webhooks.configure(webhooks)
        self.live = LiveActivity(self.sim)
        self.clock_file: Path | None = None

    def keep_clock(self, path: Path) -> None:
        """Keep the clock in `path`: move it on to the time saved there (replaying the history up to it, the
        same for the same seed), and save it after every /advance."""
        self.clock_file = path
        if path.exists():
            saved = datetime.fromisoformat(path.read_text(encoding="utf-8").strip())
            minutes = (saved - self.sim.state.now).total_seconds() / 60
            if minutes > 0:
                self.sim.advance(minutes)

    def close(self) -> None:
        """Stop the live activity and the webhook senders (the HTTP server is stopped by its owner)."""
        self.live.stop()
        self.webhooks.close()

    def request_started(self) -> int:
        """An API request begins: how many are being served now, itself included."""
        with self._log_lock:
            self._in_flight += 1
            return self._in_flight

    def request_ended(self) -> None:
        with self._log_lock:
            self._in_flight -= 1

    def record(self, method: str, path: str, query: str, body: bytes, status, fault: str | None,
               in_flight: int) -> None:
        try:
            parsed = json.loads(body) if body.strip() else None
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        entry = {"method": method, "path": path, "query": query, "body": parsed, "status": status,
                 "in_flight": in_flight}
        if fault:
            entry["fault"] = fault
        with self._log_lock:
            self._log.append(entry)

    def requests(self) -> list[dict]:
        with self._log_lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    def control(self, method: str, path: str, body: bytes) -> Response:
        name = path[len(CONTROL_PREFIX) :].strip("/")
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            return _control_error(f"body is not JSON: {body[:80]!r}")
        if name == "truth" and method == "GET":
            with self.state.lock:
                return json_response(200, inventory.truth(self.state))
        if name == "advance" and method == "POST":
            minutes = payload.get("minutes") if isinstance(payload, dict) else None
            if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or minutes < 0:
                return _control_error(f'advance needs {{"minutes": M}} with M >= 0, got {minutes!r}')
            counts = self.sim.advance(minutes)
            if self.clock_file is not None:
                self.clock_file.write_text(self.sim.state.now.isoformat(), encoding="utf-8")
            return json_response(200, counts)
        if name == "semantics":
            if method == "POST":
                try:
                    with self.state.lock:
                        self.state.semantics = parse_semantics(payload, self.state.semantics)
                except BadSemantics as exc:
                    return _control_error(str(exc))
            return json_response(200, dict(self.state.semantics))
        if name == "requests":
            if method == "DELETE":
                self.clear_requests()
            return json_response(200, self.requests())
        if name == "faults":
            if method == "DELETE":
                self.faults.clear()
            elif method == "POST":
                rules = payload.get("rules") if isinstance(payload, dict) else None
                try:
                    self.faults.set(rules)
                except BadRule as exc:
                    return _control_error(str(exc))
            return json_response(200, {"rules": self.faults.list()})
        if name == "webhooks":
            try:
                if method == "POST":
                    return json_response(200, self.webhooks.configure(payload))
            except BadWebhooks as exc:
                return _control_error(str(exc))
            return json_response(200, self.webhooks.clear() if method == "DELETE" else self.webhooks.status())
        if name == "webhooks/log":
            if method == "DELETE":
                self.webhooks.clear_log()
            return json_response(200, self.webhooks.log())
        if name == "live":
            try:
                if method == "POST":
                    return json_response(200, self.live.start(payload))
            except BadLive as exc:
                return _control_error(str(exc))
            except LiveBusy as exc:
                return json_response(409, {"error": str(exc)})
            return json_response(200, self.live.stop() if method == "DELETE" else self.live.status())
        return json_response(404, {"error": f"unknown control call {method} {path}"})


def _control_error(message: str) -> Response:
    return json_response(400, {"error": message})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sandbox: Sandbox  # set on the subclass made by make_server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle + the client's delayed ACK hold every
        # small answer back ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        return "nginx/1.14.1"

    def date_time_string(self, timestamp=None) -> str:
        # `Date` is the server's clock, as in production: here the simulated one (it moves on advance).
        return formatdate(self.sandbox.state.now.timestamp(), usegmt=True)

    def log_message(self, format, *args) -> None:  # keep stdout quiet; the request log is the record
        pass

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        sb = self.sandbox
        parts = urlsplit(self.path)
        path, query, method = parts.path, parts.query, self.command
        body = self._read_body()
        if path.startswith(CONTROL_PREFIX):
            self._send(sb.control(method, path, body), method)
            return
        in_flight = sb.request_started()
        try:
            self._serve_api(sb, method, path, query, body, in_flight)
        finally:
            sb.request_ended()

    def _serve_api(self, sb: Sandbox, method: str, path: str, query: str, body: bytes,
                   in_flight: int) -> None:
        fault_name, terminal, quirks = None, None, Quirks()
        for rule in sb.faults.hit(path):
            if rule.fault == "delay":
                time.sleep(rule.seconds)
            elif rule.fault == "ignore_filters":
                quirks = replace(quirks, ignore_filters=True)
            elif rule.fault == "dotted_filters":
                quirks = replace(quirks, dotted=rule.mode)
            elif rule.fault == "page_drift":
                sb.sim.drift(rule.orders)
            elif terminal is None:
                terminal = rule
            fault_name = fault_name or rule.fault
        if terminal is not None and terminal.fault == "drop":
            sb.record(method, path, query, body, None, "drop", in_flight)
            self.close_connection = True
            return
        if terminal is not None and terminal.fault == "status":
            response = self._injected_status(terminal)
        else:
            response = sb.api.handle(method, path, query, self.headers, body, quirks)
        if terminal is not None and terminal.fault == "truncate":
            response.body = response.body[: len(response.body) // 2]
        sb.record(method, path, query, body, response.status, fault_name, in_flight)
        self._send(response, method)

    @staticmethod
    def _injected_status(rule) -> Response:
        if rule.status == 503:
            response = json_response(503, wire.UNKNOWN_ERROR)
        else:
            text = _INJECTED.get(rule.status, "Injected fault")
            response = json_response(
                rule.status, {"error": text, "status": rule.status, "code": "INJECTED_FAULT", "info": []}
            )
        if rule.retry_after is not None:
            ra = rule.retry_after
            response.headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
        return response

    def _send(self, response: Response, method: str) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Connection", "keep-alive")
        if response.status != 503:
            self.send_header("Vary", "Accept-Encoding")
        self.send_header("Cache-Control", "no-cache, private")
        if response.status == 200 and response.content_type == "application/json":
            self.send_header("X-Cache-Status", "MISS")
        self.send_header("Strict-Transport-Security", "max-age=31536000")
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(response.body)


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (timeout tests, dropped connections) is normal here, not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(sandbox: Sandbox, host: str, port: int) -> SandboxHTTPServer:
    handler = type("BoundHandler", (Handler,), {"sandbox": sandbox})
    return SandboxHTTPServer((host, port), handler)


def base_url(server: SandboxHTTPServer) -> str:
    host, port = cast("tuple[str, int]", server.server_address[:2])  # AF_INET: (host, port)
    return f"http://{host}:{port}{API_PREFIX}"
