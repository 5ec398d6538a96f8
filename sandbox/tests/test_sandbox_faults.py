"""Fault injection through /_sandbox/faults."""

import json
import time

import pytest
import requests

pytestmark = pytest.mark.integration

ORDERS = "/api/rest/v1/orders"


def test_status_with_retry_after_count_and_hit_counts(fresh_api, fresh_sb, capture):
    fresh_sb.set_faults([{"match": ORDERS, "fault": "status", "status": 503, "retry_after": 5, "count": 2}])
    first, second, third = (fresh_api.get("/orders") for _ in range(3))
    for r in (first, second):
        assert (r.status_code, r.headers["Retry-After"], r.json()) == (
            503,
            "5",
            capture("error_503_unknown.json"),
        )
    assert third.status_code == 200
    assert fresh_api.get("/events").status_code == 200  # other paths untouched
    (rule,) = fresh_sb.faults()
    assert (rule["seen"], rule["hits"], rule["count"]) == (3, 2, 2)
    assert [e["status"] for e in fresh_sb.requests()] == [503, 503, 200, 200]
    fresh_sb.clear_faults()
    assert fresh_sb.faults() == []


def test_after_skips_the_first_requests(fresh_api, fresh_sb):
    fresh_sb.set_faults([{"match": ORDERS, "fault": "status", "status": 429, "after": 2, "count": 1}])
    codes = [fresh_api.get("/orders", {"page": p}).status_code for p in (1, 2, 3, 4)]
    assert codes == [200, 200, 429, 200]


def test_delay(fresh_api, fresh_sb):
    fresh_sb.set_faults([{"match": ORDERS, "fault": "delay", "seconds": 0.4, "count": 1}])
    started = time.monotonic()
    assert fresh_api.get("/orders").status_code == 200
    assert time.monotonic() - started >= 0.4
    with pytest.raises(requests.Timeout):
        fresh_sb.set_faults([{"match": ORDERS, "fault": "delay", "seconds": 1.0}])
        fresh_api.session.get(fresh_sb.base_url + "/orders", timeout=0.2)


def test_drop_and_truncate(fresh_api, fresh_sb):
    fresh_sb.set_faults([{"match": ORDERS, "fault": "drop", "count": 1}])
    with pytest.raises(requests.ConnectionError):
        requests.get(fresh_sb.base_url + "/orders", headers={"Authorization": "Bearer test-token"}, timeout=5)
    assert fresh_sb.requests()[-1]["fault"] == "drop" and fresh_sb.requests()[-1]["status"] is None
    full_len = len(fresh_api.get("/orders", {"page": 2}).content)
    fresh_sb.set_faults([{"match": ORDERS, "fault": "truncate", "count": 1}])
    cut = fresh_api.get("/orders", {"page": 2})
    assert cut.status_code == 200 and len(cut.content) == full_len // 2
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)


def test_ignore_filters(fresh_api, fresh_sb):
    body = {"where": [{"column": "payed", "value": 1}], "orderBy": {"id": "desc"}, "per_page": 1000}
    filtered = fresh_api.json("/orders", body)["data"]
    fresh_sb.set_faults([{"match": ORDERS, "fault": "ignore_filters"}])
    ignored = fresh_api.json("/orders", body)
    assert ignored["paging"]["total"] > len(filtered)
    ids = [o["id"] for o in ignored["data"]]
    assert ids == sorted(ids) and any(not o["payed"] for o in ignored["data"])


def test_page_drift_creates_and_updates_between_pages(fresh_api, fresh_sb):
    first = fresh_api.json("/orders", {"page": 1})
    before = {o["id"]: o["updated_at"] for o in fresh_api.json("/orders", {"per_page": 1000})["data"]}
    fresh_sb.set_faults([{"match": ORDERS, "fault": "page_drift", "orders": 3, "count": 1}])
    second = fresh_api.json("/orders", {"page": 2})
    assert second["paging"]["total"] == first["paging"]["total"] + 3
    after = fresh_api.json("/orders", {"per_page": 1000})["data"]
    now = fresh_sb.truth()["now"]
    changed = [o for o in after if o["id"] in before and o["updated_at"] != before[o["id"]]]
    assert len(changed) == 3 and all(o["updated_at"] == now for o in changed)
    assert sum(o["id"] not in before for o in after) == 3


def test_bad_rules_are_rejected_with_a_clear_error(fresh_sb):
    url = fresh_sb.root_url + "/_sandbox/faults"
    for rule, word in (
        ({"match": "orders", "fault": "drop"}, "match"),
        ({"match": ORDERS, "fault": "boom"}, "fault"),
        ({"match": ORDERS, "fault": "delay", "seconds": -1}, "seconds"),
    ):
        r = requests.post(url, json={"rules": [rule]}, timeout=5)
        assert r.status_code == 400 and word in r.json()["error"]
    assert requests.post(url, json={"nope": 1}, timeout=5).status_code == 400
    assert fresh_sb.faults() == []
