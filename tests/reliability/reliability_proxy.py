"""A rewriting HTTP proxy in front of the sandbox, and the malformed API records of scenario 14.

The sandbox's fault list has no "malformed record" kind, so this proxy forwards every request to it
unchanged (method, path, headers, JSON body) and lets a test rewrite the decoded JSON answers.
"""

from __future__ import annotations

import json
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Rewrite = Callable[[str, dict], dict]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # The tap hanging up (its read timeout) is part of the scenario, not an error of the proxy.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RewritingProxy:
    def __init__(self, upstream_root: str, rewrite: Rewrite) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args) -> None:
                pass

            def do_GET(self) -> None:
                proxy._forward(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

        self.upstream_root = upstream_root
        self.rewrite = rewrite
        self.rewritten = 0
        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        host, port = self._server.server_address[:2]
        self.root_url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RewritingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "content-length")}
        request = urllib.request.Request(
            self.upstream_root + handler.path, data=body, method=handler.command, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                status, content_type, payload = resp.status, resp.headers.get("Content-Type", ""), resp.read()
        except urllib.error.HTTPError as err:
            status, content_type, payload = err.code, err.headers.get("Content-Type", ""), err.read()
        if status == 200 and "json" in content_type:
            decoded = json.loads(payload)
            changed = self.rewrite(handler.path, decoded)
            if changed is not None:
                self.rewritten += 1
                payload = json.dumps(changed, ensure_ascii=False).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type or "application/octet-stream")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


# ---------------------------------------------------------------------------------------- rewrites

ORDERS_PATH = "/api/rest/v1/orders"
HUGE = "Я" * 500_000  # 1 MB of UTF-8 in one field


def _orders_page(path: str, body: dict) -> list | None:
    data = body.get("data") if isinstance(body, dict) else None
    return data if path.startswith(ORDERS_PATH) and isinstance(data, list) and data else None


def tolerable(path: str, body: dict) -> dict | None:
    """New fields the schema does not know (on every order and ticket), and a huge string in one order
    and one ticket per page: the load must go through unharmed."""
    orders = _orders_page(path, body)
    if orders is None:
        return None
    for order in orders:
        order["loyalty_program"] = {"tier": "gold", "points": [1, 2, 3]}
        for basket in order.get("baskets") or []:
            basket["nft_ticket"] = {"chain": "none"}
    orders[0]["payment_type_id"] = HUGE
    with_tickets = next((o for o in orders if o.get("baskets")), None)
    if with_tickets:
        with_tickets["baskets"][0]["seat_name"] = HUGE
    return body


def wrong_types(path: str, body: dict) -> dict | None:
    """Strings where numbers belong (money and an integer id): must fail loudly, naming the field."""
    orders = _orders_page(path, body)
    if orders is None:
        return None
    orders[0]["price"] = "1 200,00 руб."
    orders[0]["event_id"] = "event-17"
    return body


def missing_id(path: str, body: dict) -> dict | None:
    """A record without its key: must fail loudly, naming the stream and the field."""
    orders = _orders_page(path, body)
    if orders is None:
        return None
    del orders[0]["id"]
    return body
