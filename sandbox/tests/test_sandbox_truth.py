"""Ground truth agrees with what the API serves; the clock moves the organiser; everything is seeded."""

from collections import Counter
from datetime import datetime, timedelta

import pytest
from qtickets_sandbox.testing import SandboxServer

pytestmark = pytest.mark.integration


def test_truth_matches_orders_and_seat_counters(api, shared_sb, check_consistency):
    truth = shared_sb.truth()
    assert list(truth) == ["now", "tickets", "inventory", "events", "shows", "semantics"]
    assert truth["semantics"] == {"refund_bumps_order": True}
    check_consistency(api, truth)
    events = api.json("/events", {"per_page": 100})["data"]
    assert truth["events"] == [
        {
            "id": e["id"],
            "name": e["name"],
            "city_id": e["city_id"],
            "city_name": e["city"]["name"],
            "city_timezone": e["city"]["timezone"],
            "deleted_at": e["deleted_at"],
        }
        for e in events
    ]
    assert truth["shows"] == [
        {"id": s["id"], "start_date": s["start_date"], "finish_date": s["finish_date"],
         "deleted_at": s["deleted_at"], "event_id": e["id"]}
        for e, s in sorted(((e, s) for e in events for s in e["shows"]), key=lambda pair: pair[1]["id"])
    ]


def test_history_looks_like_a_real_organiser(api, shared_sb):
    orders, events = api.every_order(), api.json("/events", {"per_page": 100})["data"]
    assert len(orders) == 300  # exactly --orders
    now = datetime.fromisoformat(shared_sb.truth()["now"])
    assert now == datetime.fromisoformat("2025-11-03T12:00:00+03:00")
    created = [datetime.fromisoformat(o["created_at"]) for o in orders]
    assert now - timedelta(days=28) <= min(created) and max(created) <= now
    ids = [o["id"] for o in sorted(orders, key=lambda o: o["created_at"])]
    assert ids == sorted(ids)  # ids grow with creation time
    starts = [datetime.fromisoformat(s["start_date"]) for e in events for s in e["shows"]]
    assert min(starts) < now - timedelta(days=20) and max(starts) > now + timedelta(days=60)
    assert len({e["city"]["timezone"] for e in events}) >= 3
    seat_ids = {b["seat_id"] for o in orders for b in o["baskets"]}
    assert any(s.endswith("-1;1") for s in seat_ids) and any(not s.endswith("-1;1") for s in seat_ids)
    assert len({p["default_price"] for e in events for s in e["shows"] for p in s["prices"]}) >= 4
    kinds = Counter("paid" if o["payed"] else "deleted" if o["deleted_at"] else "pending" for o in orders)
    assert kinds["paid"] > kinds["deleted"] > 0
    expired = [o for o in orders if o["deleted_at"] and o["deleted_at"] > o["reserved_to"]]
    cancelled = [o for o in orders if o["deleted_at"] and o["deleted_at"] < o["reserved_to"]]
    assert expired and cancelled
    for o in expired + cancelled:
        assert o["deleted_at"] == o["updated_at"] and not o["payed"] and o["payed_at"] is None
        assert all(
            b["barcode"] is None and b["deleted_at"] == o["deleted_at"] and b["refunded_amount"] == 0
            for b in o["baskets"]
        )
    baskets = [(o, b) for o in orders for b in o["baskets"]]
    assert any(b["refunded_at"] for _, b in baskets)
    scanned = [(o, b) for o, b in baskets if b["checked_at"]]
    assert scanned and any(b["updated_at"] > o["updated_at"] for o, b in scanned)
    assert Counter(o["updated_at"] for o in orders).most_common(1)[0][1] >= 2
    assert any(o["utm"] for o in orders) and any(o["utm"] == [] for o in orders)
    assert any(o["promo_code_id"] for o in orders) and any(o["discount_id"] for o in orders)
    for o in orders:
        assert o["price"] == sum(b["price"] for b in o["baskets"])
        assert o["original_price"] == sum(b["original_price"] for b in o["baskets"])
        assert o["payed"] == (o["payed_at"] is not None)
    assert any(e["deleted_at"] for e in events) or len(events) < 8


def test_advance_moves_the_organiser(fresh_api, fresh_sb, check_consistency):
    before_truth = fresh_sb.truth()
    before = {o["id"]: o for o in fresh_api.every_order()}
    summary = fresh_sb.advance(7 * 24 * 60)
    assert datetime.fromisoformat(summary["now"]) - datetime.fromisoformat(before_truth["now"]) == timedelta(
        days=7
    )
    for kind in ("created", "payed", "expired", "cancelled", "refunded", "scanned", "event_edits"):
        assert summary[kind] > 0, kind
    after_truth = fresh_sb.truth()
    after = {o["id"]: o for o in check_consistency(fresh_api, after_truth)}
    new = [o for oid, o in after.items() if oid not in before]
    assert len(new) == summary["created"] and min(o["id"] for o in new) > max(before)
    assert all(o["created_at"] > before_truth["now"] for o in new)
    paid_now = [o for oid, o in before.items() if not o["payed"] and after[oid]["payed"]]
    expired_now = [o for oid, o in before.items() if not o["deleted_at"] and after[oid]["deleted_at"]]
    assert paid_now or any(o["payed"] for o in new)
    assert expired_now or any(o["deleted_at"] for o in new)
    status = Counter(t["status"] for t in after_truth["tickets"])
    assert status["refunded"] > Counter(t["status"] for t in before_truth["tickets"])["refunded"]
    for oid, o in after.items():  # refunds bump the order, scans do not
        if oid in before and any(
            b["refunded_at"] and not bb["refunded_at"]
            for b, bb in zip(o["baskets"], before[oid]["baskets"], strict=True)
        ):
            assert o["updated_at"] > before[oid]["updated_at"]
        newly_scanned = [
            b
            for b, bb in zip(o["baskets"], before.get(oid, o)["baskets"], strict=True)
            if b["checked_at"] and (oid not in before or not bb["checked_at"])
        ]
        if oid in before and newly_scanned and before[oid]["updated_at"] == o["updated_at"]:
            assert all(b["updated_at"] >= b["checked_at"] > o["updated_at"] for b in newly_scanned)
    assert fresh_sb.advance(0)["created"] == 0


def test_same_seed_same_organiser_and_different_seed_differs():
    def snapshot(seed):
        with SandboxServer(seed=seed, orders=120, events=5, token="t", start_date="2025-06-01") as sb:
            import requests

            s = requests.Session()
            s.headers["Authorization"] = "Bearer t"
            sb.advance(600)
            return (
                s.get(sb.base_url + "/orders", json={"per_page": 1000}).content,
                s.get(sb.base_url + "/events", json={"per_page": 100}).content,
                sb.truth(),
            )

    first, again, other = snapshot(5), snapshot(5), snapshot(6)
    assert first == again
    assert first[0] != other[0] and first[2] != other[2]


def test_history_days_adds_a_past_and_keeps_the_present(client, check_consistency):
    """A longer history at the same daily sales: the orders before the default 28 days buy tickets of older
    events (all their shows finished before those 28 days), so the present ones sell as with the default
    history."""
    with SandboxServer(seed=7, orders=400, events=30, token="t", start_date="2025-11-03",
                       history_days=112) as sb:
        api = client(sb)
        orders, truth = api.every_order(), sb.truth()
        check_consistency(api, truth)
    now = datetime.fromisoformat(truth["now"])
    cutoff = now - timedelta(days=28)
    created = [datetime.fromisoformat(o["created_at"]) for o in orders]
    assert 300 <= len(orders) <= 400  # an older order that finds no older event on sale is not placed
    assert now - timedelta(days=112) <= min(created) < now - timedelta(days=84) and max(created) <= now
    assert 40 <= sum(c >= cutoff for c in created) <= 160  # the rate of the default history
    assert len(truth["events"]) == 30 + 90  # 30 per 28 days
    last_finish: dict[int, datetime] = {}
    for show in truth["shows"]:
        finish = datetime.fromisoformat(show["finish_date"])
        last_finish[show["event_id"]] = max(finish, last_finish.get(show["event_id"], finish))
    older = [o for o, c in zip(orders, created, strict=True) if c < cutoff]
    assert older and all(last_finish[o["event_id"]] < cutoff for o in older)
