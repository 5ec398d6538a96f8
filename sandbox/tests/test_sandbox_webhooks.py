"""Webhooks: one signed POST per order change, retried after n³ s, with seeded delivery faults."""

import hashlib
import hmac
import json
import time
from collections import Counter

import pytest
import requests
from qtickets_sandbox.testing import SandboxServer
from qtickets_sandbox.webhook_config import FaultPlan

SECRET = "whsec-test"
EVENT_TYPES = {"created", "updated", "payed", "deleted", "refunded", "checked"}
WEEK = 7 * 24 * 60


def _sandbox(receiver, **webhooks):
    config = {"url": receiver.url, "secret": SECRET, **webhooks}
    return SandboxServer(seed=11, orders=200, events=6, token="test-token", start_date="2025-11-03",
                         webhooks=config)


def _arrivals(receiver) -> list[tuple[str, int]]:
    return [(headers["X-Event-Type"], json.loads(body)["id"]) for headers, body in receiver.calls]


def _arrival_ids(receiver, log) -> list[int]:
    """Log ids in arrival order: the k-th arrival of an (event, order) pair is its k-th delivery."""
    ids: dict[tuple, list[int]] = {}
    for entry in log:
        ids.setdefault((entry["event"], entry["order_id"]), []).append(entry["id"])
    taken: Counter = Counter()
    out = []
    for pair in _arrivals(receiver):
        out.append(ids[pair][taken[pair]])
        taken[pair] += 1
    return out


def _logged(log) -> list[tuple[str, int]]:
    return [(e["event"], e["order_id"]) for e in log]


@pytest.mark.integration
def test_nothing_is_sent_without_a_url_nor_for_the_history(fresh_sb, receiver):
    fresh_sb.advance(24 * 60)
    assert fresh_sb.webhooks()["url"] is None and fresh_sb.webhooks()["stats"]["enqueued"] == 0
    assert fresh_sb.webhook_log() == [] and receiver.calls == []
    with _sandbox(receiver) as sb:  # configured from the start: the generated history is not sent
        assert sb.webhooks()["stats"]["enqueued"] == 0 and sb.webhook_log() == []
        assert receiver.calls == []


@pytest.mark.integration
def test_every_change_is_posted_signed_in_order_as_it_was(receiver, client, check_last_payloads):
    with _sandbox(receiver) as sb:
        summary = sb.advance(WEEK)
        stats = sb.wait_webhooks()["stats"]
        log = sb.webhook_log()
        assert stats["enqueued"] == stats["delivered"] == stats["attempts"] == len(log) == len(receiver.calls)
        assert [e["id"] for e in log] == list(range(1, len(log) + 1))
        assert _arrivals(receiver) == _logged(log)  # one sender: arrival order is the order of the changes
        assert all(e["outcome"] == "delivered" and e["fault"] is None for e in log)
        assert [len(e["attempts"]) for e in log] == [1] * len(log)

        for headers, body in receiver.calls:
            assert headers["X-Signature"] == hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
            assert (headers["Content-Type"], headers["User-Agent"], headers["X-Model-Name"]) == (
                "application/json", "Qtickets-Webhooks/2.0", "Order")
            assert headers["X-Event-Type"] in EVENT_TYPES
        types = Counter(event for event, _ in _arrivals(receiver))
        assert set(types) == EVENT_TYPES
        assert (types["created"], types["payed"], types["deleted"], types["refunded"], types["checked"]) == (
            summary["created"], summary["payed"], summary["expired"] + summary["cancelled"],
            summary["refunded"], summary["scanned"])
        assert types["updated"] >= summary["ticket_edits"]

        for (headers, _), order in zip(receiver.calls, receiver.bodies(), strict=True):
            event, baskets = headers["X-Event-Type"], {b["id"]: b for b in order["baskets"]}
            assert order["client"]["details"]["telegram_user"] is None
            assert order["unchecked_basket"] is None and order["checked_service"] is None
            if event == "created":
                assert not order["payed"] and order["deleted_at"] is None
            if event == "payed":
                assert order["payed"] and order["payed_at"] and all(b["barcode"] for b in order["baskets"])
            if event == "deleted":
                assert order["deleted_at"] and all(b["deleted_at"] for b in order["baskets"])
            if event == "refunded":
                assert order["refunded_baskets"]
                assert all(b["refunded_at"] and baskets[b["id"]] == b for b in order["refunded_baskets"])
            else:
                assert order["refunded_baskets"] == []
            if event == "checked":
                checked = order["checked_basket"]
                assert checked["checked_at"] and baskets[checked["id"]] == checked
            else:
                assert order["checked_basket"] is None
        check_last_payloads(client(sb), receiver.bodies())


@pytest.mark.integration
def test_only_200_succeeds_retries_wait_n_cubed_and_stop_after_ten_attempts(receiver):
    scale = 10_000
    receiver.respond = lambda body, seen: 500 if seen <= 3 else 200
    with _sandbox(receiver, time_scale=scale) as sb:
        sb.start_live(changes_per_second=50, seconds=0.06)  # three changes
        sb.wait_webhooks()
        log = sb.webhook_log()
        assert len(log) == 3
        for entry in log:
            assert entry["outcome"] == "delivered"
            assert [a["status"] for a in entry["attempts"]] == [500, 500, 500, 200]
            assert [a["wait"] for a in entry["attempts"]] == [round(n**3 / scale, 6) for n in range(4)]
        assert len(receiver.calls) == 12

        receiver.calls.clear()
        receiver.respond = lambda body, seen: 204  # a success elsewhere, a failure here
        sb.start_live(changes_per_second=50, seconds=0.04)  # two changes
        stats = sb.wait_webhooks()["stats"]
        gave_up = sb.webhook_log()[3:]
        assert stats["gave_up"] == len(gave_up) == 2
        for entry in gave_up:
            assert entry["outcome"] == "gave_up"
            assert [a["n"] for a in entry["attempts"]] == list(range(1, 11))
            assert [a["status"] for a in entry["attempts"]] == [204] * 10
            assert [a["wait"] for a in entry["attempts"]] == [round(n**3 / scale, 6) for n in range(10)]
        assert len(receiver.calls) == 20 and len({body for _, body in receiver.calls}) == 2


@pytest.mark.integration
def test_an_unreachable_url_is_retried_and_logged(receiver):
    with _sandbox(receiver, time_scale=100_000) as sb:
        receiver.close()  # nothing listens there any more
        sb.start_live(changes_per_second=50, seconds=0.02)
        sb.wait_webhooks()
        (entry,) = sb.webhook_log()
        assert entry["outcome"] == "gave_up" and len(entry["attempts"]) == 10
        assert all(a["status"] is None and "Connection" in a["error"] for a in entry["attempts"])


@pytest.mark.integration
def test_dropped_and_duplicate(receiver):
    faults = {"dropped": {"count": 2}, "duplicate": {"count": 1}}
    with _sandbox(receiver, faults=faults) as sb:
        sb.advance(3 * 24 * 60)
        sb.wait_webhooks()
        log = sb.webhook_log()
        assert [e["fault"] for e in log[:4]] == ["dropped", "dropped", "duplicate", None]
        assert all(e["fault"] is None for e in log[4:]) and len(log) > 5
        assert [e["outcome"] for e in log[:2]] == ["dropped", "dropped"] and log[0]["attempts"] == []
        assert [(a["copy"], a["status"]) for a in log[2]["attempts"]] == [(1, 200), (2, 200)]
        expected = _logged(log[2:3]) + _logged(log[2:])  # the duplicated one twice, the dropped ones never
        assert _arrivals(receiver) == expected
        assert receiver.calls[0][1] == receiver.calls[1][1] and receiver.calls[0][0] == receiver.calls[1][0]
        plan = sb.webhooks()["faults"]  # at most one fault each: `duplicate` never saw the dropped ones
        assert (plan["dropped"]["hits"], plan["duplicate"]["hits"], plan["duplicate"]["seen"]) == (
            2, 1, len(log) - 2)


@pytest.mark.integration
def test_out_of_order_goes_after_the_next_ones(receiver):
    with _sandbox(receiver, faults={"out_of_order": {"count": 1, "hold": 2}}) as sb:
        sb.advance(3 * 24 * 60)
        sb.wait_webhooks()
        log = sb.webhook_log()
        assert log[0]["fault"] == "out_of_order" and log[0]["outcome"] == "delivered"
        assert _arrival_ids(receiver, log) == [2, 3, 1, *range(4, len(log) + 1)]


@pytest.mark.integration
@pytest.mark.slow
def test_delayed_arrives_after_later_ones(receiver):
    with _sandbox(receiver, time_scale=1000, faults={"delayed": {"count": 1, "seconds": 3000}}) as sb:
        sb.advance(3 * 24 * 60)
        sb.wait_webhooks()
        log = sb.webhook_log()
        assert log[0]["fault"] == "delayed" and log[0]["attempts"][0]["wait"] == 3.0
        assert _arrivals(receiver)[-1] == _logged(log)[0] and len(log) > 2


@pytest.mark.unit
def test_fault_plan_is_seeded_and_honours_rate_count_after_and_precedence():
    def run(seed):
        plan = FaultPlan({"seed": seed, "dropped": {"rate": 0.1, "after": 5}, "duplicate": {"rate": 0.3},
                          "delayed": {"count": 3, "seconds": 2}})
        return [spec.kind if spec else None for spec in (plan.decide() for _ in range(1000))], plan

    first, plan = run(5)
    assert first == run(5)[0] and first != run(6)[0]
    kinds = Counter(first)
    assert 60 < kinds["dropped"] < 140 and 220 < kinds["duplicate"] < 320 and kinds["delayed"] == 3
    assert "dropped" not in first[:5]
    seen = 1000 - kinds["dropped"] - kinds["duplicate"]  # a delivery gets one fault, checked in order
    assert plan.describe()["delayed"] == {"rate": 1.0, "count": 3, "after": 0, "seconds": 2.0,
                                          "seen": seen, "hits": 3}


@pytest.mark.integration
def test_settings_are_checked_the_secret_stays_inside_and_delete_discards(fresh_sb, receiver):
    url = fresh_sb.root_url + "/_sandbox/webhooks"
    for body, word in (
        ({"url": "ftp://example.org"}, "url"),
        ({"url": receiver.url, "time_scale": 0}, "time_scale"),
        ({"url": receiver.url, "retries": 3}, "retries"),
        ({"url": receiver.url, "faults": {"lost": {}}}, "lost"),
        ({"url": receiver.url, "faults": {"dropped": {"rate": 2}}}, "rate"),
        ({"url": receiver.url, "secret": 42}, "secret"),
    ):
        r = requests.post(url, json=body, timeout=5)
        assert r.status_code == 400 and word in r.json()["error"], (body, r.text)
    assert fresh_sb.webhooks()["url"] is None

    receiver.respond = lambda body, seen: 503
    status = fresh_sb.set_webhooks(receiver.url, secret="s3cr3t-value", time_scale=0.01)
    assert status["secret_set"] and "s3cr3t-value" not in json.dumps(status)
    fresh_sb.advance(24 * 60)
    deadline = time.monotonic() + 30
    while not all(e["attempts"] for e in fresh_sb.webhook_log()) and time.monotonic() < deadline:
        time.sleep(0.02)  # until every delivery failed once and waits 100 s for its second attempt
    stats = fresh_sb.clear_webhooks()["stats"]
    log = fresh_sb.webhook_log()
    assert log and stats["pending"] == 0 and stats["discarded"] == len(log)
    assert all(e["outcome"] == "discarded" and len(e["attempts"]) == 1 for e in log)
    assert "s3cr3t-value" not in json.dumps(log)
    fresh_sb.clear_webhook_log()
    assert fresh_sb.webhook_log() == []


@pytest.mark.integration
def test_a_full_queue_turns_new_changes_away_into_the_log(fresh_sb, receiver):
    receiver.respond = lambda body, seen: 500  # every delivery stays queued for its 100 s retry wait
    fresh_sb.set_webhooks(receiver.url, time_scale=0.01, max_pending=3)
    fresh_sb.advance(24 * 60)
    status = fresh_sb.webhooks()["stats"]
    log = fresh_sb.webhook_log()
    assert len(log) > 3 and status["pending"] == 3 and status["overflow"] == len(log) - 3
    assert [e["outcome"] for e in log[3:]] == ["overflow"] * (len(log) - 3)
    assert all(e["attempts"] == [] for e in log[3:])
    fresh_sb.clear_webhooks()
