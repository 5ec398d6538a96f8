import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from qtickets_sandbox.testing import SandboxServer

TOKEN = "test-token"


class Client:
    """Talks to a running sandbox the way an API user does: GET with a JSON body, bearer token."""

    def __init__(self, sb: SandboxServer):
        self.sb = sb
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {sb.token}"

    def get(self, path: str, body=None, **kwargs) -> requests.Response:
        return self.session.get(self.sb.base_url + path, json=body, timeout=30, **kwargs)

    def json(self, path: str, body=None):
        r = self.get(path, body)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        return r.json()

    def every_order(self) -> list[dict]:
        total = self.total("/orders")
        out, page = [], 1
        while len(out) < total:
            out += self.json("/orders", {"page": page, "per_page": 1000})["data"]
            page += 1
        return out

    def all_orders(self) -> list[dict]:
        return self.json("/orders", {"per_page": 1000})["data"] if self.total("/orders") <= 1000 else None

    def total(self, path: str) -> int:
        return self.json(path, {"per_page": 1})["paging"]["total"]


@pytest.fixture(scope="session")
def client():
    """Client(sandbox): an API client for a sandbox a test starts itself."""
    return Client


@pytest.fixture(scope="session")
def capture(captures_dir: Path):
    """Loader for the production captures (`captures_dir`, from the root conftest.py)."""

    def load(name: str):
        return json.loads((captures_dir / name).read_text(encoding="utf-8"))

    return load


@pytest.fixture(scope="session")
def shared_sb():
    """A read-only sandbox for tests that do not change state (no advance, no faults)."""
    with SandboxServer(seed=7, orders=300, events=8, token=TOKEN, start_date="2025-11-03") as sb:
        yield sb


@pytest.fixture(scope="session")
def api(shared_sb):
    return Client(shared_sb)


@pytest.fixture
def fresh_sb():
    """A private sandbox for tests that advance the clock, inject faults or count requests."""
    with SandboxServer(seed=11, orders=200, events=6, token=TOKEN, start_date="2025-11-03") as sb:
        yield sb


@pytest.fixture
def fresh_api(fresh_sb):
    return Client(fresh_sb)


# ---- ground truth against what the API serves -------------------------------------------------------------


def _expected_tickets(orders):
    """The truth's tickets recomputed from what the API serves (independently of inventory.ticket_truth)."""
    tickets = []
    for o in orders:
        if not o["payed"]:
            continue
        for b in o["baskets"]:
            status = (
                "refunded"
                if b["refunded_at"]
                else "cancelled"
                if (b["deleted_at"] or o["deleted_at"])
                else "sold"
            )
            tickets.append(
                {
                    "ticket_id": b["id"],
                    "order_id": o["id"],
                    "event_id": o["event_id"],
                    "show_id": b["show_id"],
                    "zone_id": b["seat_id"].rsplit("-", 1)[0],
                    "seat_id": b["seat_id"],
                    "status": status,
                    "price": b["price"],
                    "original_price": b["original_price"],
                    "discount_value": b["discount_value"],
                    "refunded_amount": b["refunded_amount"],
                    "refunded_at": b["refunded_at"],
                    "checked_at": b["checked_at"],
                    "payed_at": o["payed_at"],
                    "order_updated_at": o["updated_at"],
                    "updated_at": b["updated_at"],
                    "order_deleted_at": o["deleted_at"],
                    "deleted_at": b["deleted_at"],
                }
            )
    return sorted(tickets, key=lambda t: t["ticket_id"])


def _check_consistency(api, truth):
    orders = api.every_order()
    assert truth["tickets"] == _expected_tickets(orders)
    sold = Counter((t["show_id"], None) for t in truth["tickets"] if t["status"] == "sold")
    by_ticket = {b["id"]: b for o in orders for b in o["baskets"]}
    sold = Counter(
        (t["show_id"], by_ticket[t["ticket_id"]]["seat_id"].rsplit("-", 1)[0])
        for t in truth["tickets"]
        if t["status"] == "sold"
    )
    held = Counter(
        (b["show_id"], b["seat_id"].rsplit("-", 1)[0])
        for o in orders
        if not o["payed"] and not o["deleted_at"]
        for b in o["baskets"]
    )
    shows = {row["show_id"] for row in truth["inventory"]}
    for show_id in shows:
        seats = api.json(
            f"/shows/{show_id}/seats",
            {
                "flat": True,
                "select": [
                    "zone_id",
                    "max_quantity",
                    "free_quantity",
                    "ordered_quantity",
                    "payed_quantity",
                    "in_basket_quantity",
                    "disabled",
                ],
            },
        )["data"]
        zones = {}
        for seat in seats.values():
            z = zones.setdefault(seat["zone_id"], Counter())
            if seat["disabled"]:
                z["disabled"] += 1
                continue
            z["capacity"] += seat["max_quantity"]
            z["free"] += seat["free_quantity"]
            z["sold"] += seat["payed_quantity"]
            z["held"] += seat["ordered_quantity"] - seat["payed_quantity"] + seat["in_basket_quantity"]
        rows = {r["zone_id"]: r for r in truth["inventory"] if r["show_id"] == show_id}
        assert set(rows) == set(zones)
        for zone_id, z in zones.items():
            row = rows[zone_id]
            assert (row["capacity"], row["free"], row["sold"], row["held"], row["disabled"]) == (
                z["capacity"],
                z["free"],
                z["sold"],
                z["held"],
                z["disabled"],
            ), (show_id, zone_id)
            assert row["free"] == row["capacity"] - row["sold"] - row["held"] >= 0
            assert row["sold"] == sold[(show_id, zone_id)]
            assert row["held"] == held[(show_id, zone_id)]
    return orders


@pytest.fixture(scope="session")
def check_consistency():
    """check(api, truth): the truth's tickets and seat counters agree with GET /orders and /shows/{id}/seats;
    returns the orders read."""
    return _check_consistency


# ---- webhooks -------------------------------------------------------------------------------------------
# What webhook bodies add to the order of GET /orders/{id} (sandbox/README.md, "Webhooks").
WEBHOOK_KEYS = ("primary_orders", "secondary_orders", "refunded_baskets", "checked_basket",
                "unchecked_basket", "checked_service", "unchecked_service")


class Receiver:
    """A webhook endpoint on 127.0.0.1 (HTTP/1.1, keep-alive): records every POST in arrival order and
    answers `respond(body, times_seen)` (default 200)."""

    def __init__(self):
        self.calls: list[tuple[dict, bytes]] = []
        self._seen: Counter = Counter()
        self._lock = threading.Lock()
        self.respond = lambda body, seen: 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.calls.append((dict(self.headers), body))
                    receiver._seen[body] += 1
                    status = receiver.respond(body, receiver._seen[body])
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/qtickets/hook?src=sandbox"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, body in self.calls]

    def close(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _check_last_payloads(api, bodies: list[dict]):
    """The last webhook body of each order is GET /orders/{id} now, plus the webhook-only keys."""
    last = {b["id"]: b for b in bodies}
    assert last
    for order_id, body in last.items():
        order = dict(body)
        extras = {k: order.pop(k) for k in WEBHOOK_KEYS}
        assert extras["primary_orders"] == extras["secondary_orders"] == []
        assert order["client"]["details"].pop("telegram_user") is None
        assert order == api.json(f"/orders/{order_id}")["data"], order_id


@pytest.fixture(scope="session")
def check_last_payloads():
    return _check_last_payloads
