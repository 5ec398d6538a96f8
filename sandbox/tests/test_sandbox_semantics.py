"""What production leaves open, as switches (/_sandbox/semantics), and the changes only tickets see."""

from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
import requests
from qtickets_sandbox.simulate import Simulation
from qtickets_sandbox.testing import SandboxServer
from qtickets_sandbox.timefmt import fmt

pytestmark = pytest.mark.integration

TOKEN = "test-token"


def _orders(sb) -> dict[int, dict]:
    answer = requests.get(f"{sb.base_url}/orders", json={"per_page": 1000},
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    return {o["id"]: o for o in answer.json()["data"]}


def _changes(before: dict[int, dict], after: dict[int, dict]):
    """(order before, order after, basket before, basket after) for every basket that changed."""
    for oid, o in after.items():
        if oid in before:
            for b, bb in zip(before[oid]["baskets"], o["baskets"], strict=True):
                if b != bb:
                    yield before[oid], o, b, bb


def test_semantics_default_switch_and_bad_input():
    with SandboxServer(seed=3, orders=50, events=3, token=TOKEN) as sb:
        assert sb.semantics() == {"refund_bumps_order": True}
        assert sb.set_semantics(refund_bumps_order=False) == {"refund_bumps_order": False}
        assert sb.truth()["semantics"] == {"refund_bumps_order": False}
        bad = (({"refund_bumps_order": "no"}, "true or false"), ({"scan_bumps": True}, "unknown"))
        for body, clue in bad:
            answer = requests.post(f"{sb.root_url}/_sandbox/semantics", json=body, timeout=10)
            assert answer.status_code == 400 and clue in answer.json()["error"]
        assert sb.semantics() == {"refund_bumps_order": False}


@pytest.mark.parametrize("bumps", [True, False])
def test_refunds_bump_the_order_only_when_switched_on_and_scans_and_edits_never(bumps):
    sim = Simulation(12, datetime.fromisoformat("2025-11-03T12:00:00+03:00"), 400, 5,
                     {"refund_bumps_order": bumps})
    state = sim.state
    paid = [o for o in state.orders.values()
            if o["payed"] and not o["deleted_at"] and len(o["baskets"]) >= 3
            and not any(b["refunded_at"] or b["checked_at"] for b in o["baskets"])]
    assert paid, "no paid order with three untouched tickets"
    order = paid[0]
    for step, (change, bumps_order) in enumerate(
        [(lambda t: state.scan(order, 0, t), False), (lambda t: state.edit_ticket(order, 1, t), False),
         (lambda t: state.refund(order, t, whole=False), bumps)], start=1):
        before, baskets_before = order["updated_at"], [dict(b) for b in order["baskets"]]
        t = state.now + timedelta(minutes=10 * step)
        assert change(t)
        changed = [b for b, old in zip(order["baskets"], baskets_before, strict=True) if b != old]
        assert len(changed) == 1 and changed[0]["updated_at"] >= fmt(t)
        assert (order["updated_at"] == fmt(t)) if bumps_order else (order["updated_at"] == before)


def test_advance_makes_ticket_only_changes_in_both_semantics():
    for bumps in (True, False):
        with SandboxServer(seed=12, orders=600, events=5, token=TOKEN, start_date="2025-11-03",
                           semantics={"refund_bumps_order": bumps}) as sb:
            before = _orders(sb)
            summary = sb.advance(5 * 24 * 60)
            after = _orders(sb)
        assert summary["refunded"] and summary["scanned"] and summary["ticket_edits"], summary
        ticket_only = [(o, b) for o, o_after, b, _ in _changes(before, after)
                       if o["updated_at"] == o_after["updated_at"]]
        assert ticket_only  # tickets changed under an unchanged order: only a ticket-level read sees them


def test_date_header_is_the_simulated_clock():
    with SandboxServer(seed=3, orders=50, events=3, token=TOKEN, start_date="2025-11-03") as sb:
        def server_date():
            answer = requests.get(f"{sb.base_url}/events", headers={"Authorization": f"Bearer {TOKEN}"},
                                  timeout=10)
            return parsedate_to_datetime(answer.headers["Date"])

        assert server_date() == datetime.fromisoformat("2025-11-03T12:00:00+03:00")
        sb.advance(90)
        assert server_date() == datetime.fromisoformat("2025-11-03T13:30:00+03:00")


@pytest.mark.parametrize(("mode", "status", "count"), [("ignore", 200, "all"), ("reject", 503, None),
                                                       ("empty", 200, 0), (None, 200, "some")])
def test_dotted_filter_faults(mode, status, count):
    with SandboxServer(seed=3, orders=120, events=3, token=TOKEN, start_date="2025-11-03") as sb:
        orders = _orders(sb)
        since = sorted(b["updated_at"] for o in orders.values() for b in o["baskets"])[-10]
        if mode:
            sb.set_faults([{"match": "/api/rest/v1/orders", "fault": "dotted_filters", "mode": mode}])
        body = {"where": [{"column": "baskets.updated_at", "operator": ">=", "value": since}],
                "per_page": 1000}
        answer = requests.get(f"{sb.base_url}/orders", json=body,
                              headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        plain = requests.get(f"{sb.base_url}/orders", json={"where": [{"column": "payed", "value": 1}]},
                             headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == status and plain.status_code == 200  # plain filters are untouched
    if status != 200:
        return
    got = {o["id"] for o in answer.json()["data"]}
    matching = {i for i, o in orders.items() if any(b["updated_at"] >= since for b in o["baskets"])}
    expected = {"all": set(orders), 0: set(), "some": matching}[count]
    assert got == expected and 0 < len(matching) < len(orders)
