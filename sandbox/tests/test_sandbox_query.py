"""Reading options from the JSON body of GET: paging, where, orderBy, select; other endpoints' shapes."""

import pytest

pytestmark = pytest.mark.integration


def _all(api, path="/orders"):
    return api.json(path, {"per_page": 1000})["data"]


def test_paging_walks_every_order_once_in_id_order(api):
    everything = _all(api)
    seen, page = [], 1
    while True:
        body = api.json("/orders", {"page": page, "perPage": 37})
        assert body["paging"] == {"perPage": 37, "currentPage": page, "total": len(everything)}
        if not body["data"]:
            break
        seen += [o["id"] for o in body["data"]]
        page += 1
    assert seen == sorted(o["id"] for o in everything)
    assert page == -(-len(everything) // 37) + 1


def test_page_size_keys_defaults_and_cap(api):
    assert api.json("/orders", {"per_page": 7})["paging"]["perPage"] == 7
    assert api.json("/orders", {"perPage": 8})["paging"]["perPage"] == 8
    assert len(api.json("/orders", {"per_page": 5000})["data"]) == min(1000, api.total("/orders"))
    assert api.json("/orders", {"per_page": 5000})["paging"]["perPage"] == 1000
    assert api.json("/orders")["paging"] == {"perPage": 50, "currentPage": 1, "total": api.total("/orders")}


def test_query_string_options_are_ignored(api):
    plain = api.json("/orders")
    assert api.json("/orders?payed=1&per_page=200&page=3&since=2025-10-04T16:55:12+0300") == plain
    assert any(not o["payed"] for o in plain["data"]) or all(o["payed"] for o in _all(api))


@pytest.mark.parametrize(
    "value", ["2025-10-20T12:00:00+03:00", "2025-10-20T12:00:00+0300", "2025-10-20T09:00:00Z"]
)
def test_where_datetime_in_any_offset(api, value):
    got = _all_where(api, [{"column": "updated_at", "operator": ">=", "value": value}])
    want = [o["id"] for o in _all(api) if o["updated_at"] >= "2025-10-20T12:00:00+03:00"]
    assert got == want and 0 < len(want) < len(_all(api))


def _all_where(api, where, order_by=None):
    body = {"where": where, "per_page": 1000}
    if order_by:
        body["orderBy"] = order_by
    return [o["id"] for o in api.json("/orders", body)["data"]]


def test_where_operators_match_a_client_side_filter(api):
    orders = _all(api)
    event_ids = sorted({o["event_id"] for o in orders})
    show_id = orders[0]["baskets"][0]["show_id"]
    cases = [
        ([{"column": "payed", "value": 1}], lambda o: o["payed"]),
        ([{"column": "payed", "operator": "=", "value": False}], lambda o: not o["payed"]),
        ([{"column": "deleted_at", "operator": "null"}], lambda o: o["deleted_at"] is None),
        ([{"column": "deleted_at", "operator": "not null"}], lambda o: o["deleted_at"] is not None),
        (
            [{"column": "event_id", "operator": "in", "value": event_ids[:2]}],
            lambda o: o["event_id"] in event_ids[:2],
        ),
        (  # options of other types match one by one: a numeric string or a float equals the integer
            [{"column": "event_id", "operator": "in",
              "value": [str(event_ids[0]), float(event_ids[1]), "x"]}],
            lambda o: o["event_id"] in event_ids[:2],
        ),
        (
            [{"column": "event_id", "operator": "not in", "value": event_ids[:1]}],
            lambda o: o["event_id"] != event_ids[0],
        ),
        (
            [{"column": "price", "operator": ">", "value": 2000}, {"column": "payed", "value": 1}],
            lambda o: o["price"] > 2000 and o["payed"],
        ),
        ([{"column": "price", "operator": "<=", "value": "1000"}], lambda o: o["price"] <= 1000),
        (
            [{"column": "discount_id", "operator": "!=", "value": None}],
            lambda o: o["discount_id"] is not None,
        ),
        (
            [{"column": "baskets.show_id", "value": show_id}],
            lambda o: any(b["show_id"] == show_id for b in o["baskets"]),
        ),
    ]
    for where, keep in cases:
        want = [o["id"] for o in orders if keep(o)]
        assert _all_where(api, where) == want, where
        assert 0 < len(want) < len(orders), where  # every case actually filters


def test_order_by(api):
    orders = _all(api)
    got = _all_where(api, [], {"updated_at": "desc"})
    assert got == [
        o["id"]
        for o in sorted(sorted(orders, key=lambda o: o["id"]), key=lambda o: o["updated_at"], reverse=True)
    ]
    got = _all_where(api, [], {"event_id": "asc", "id": "desc"})
    assert got == [o["id"] for o in sorted(orders, key=lambda o: (o["event_id"], -o["id"]))]
    # orders sharing one updated_at exist (batch edits), so a cursor needs >= and an id tiebreak
    stamps = [o["updated_at"] for o in orders]
    assert len(set(stamps)) < len(stamps)


def test_bad_options_answer_the_catch_all_503(api):
    for body in (
        {"where": [{"column": "nope", "value": 1}]},
        {"where": [{"column": "id", "operator": "~"}]},
        {"orderBy": {"id": "sideways"}},
        {"where": "payed=1"},
        {"page": "x"},
    ):
        r = api.get("/orders", body)
        assert (r.status_code, r.json()["code"]) == (503, "UNKNOWN_ERROR"), body
    r = api.session.get(
        api.sb.base_url + "/orders", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 503


def test_select_projects_dotted_paths(api):
    events = api.json("/events", {"select": ["id", "city.name", "shows.id"], "per_page": 3})["data"]
    for e in events:
        assert list(e) == ["id", "city", "shows"]
        assert list(e["city"]) == ["name"] and all(list(s) == ["id"] for s in e["shows"])


def test_default_orders_of_reference_lists(api):
    promo = api.json("/promo-codes")["data"]
    assert [p["id"] for p in promo] == [
        p["id"] for p in sorted(promo, key=lambda p: (p["discount_id"], p["id"]))
    ]
    assert [p["id"] for p in promo] != sorted(p["id"] for p in promo)  # grouped by discount, not by id
    for path in ("/clients", "/discounts", "/events"):
        ids = [x["id"] for x in api.json(path, {"per_page": 1000})["data"]]
        assert ids == sorted(ids)


def test_details_equal_list_items(api):
    for path in ("/events", "/clients", "/discounts", "/promo-codes"):
        item = api.json(path)["data"][-1]
        assert api.json(f"{path}/{item['id']}") == {"data": item}


def test_color_themes(api):
    body = api.json("/color-themes")
    assert list(body) == ["data"] and len(body["data"]) == 15
    assert all(list(t) == ["id", "color"] and t["color"].startswith("#") for t in body["data"])


def test_seats_nested_default_and_flat_counters(api):
    event = api.json("/events")["data"][0]
    show_id = event["shows"][0]["id"]
    nested = api.json(f"/shows/{show_id}/seats")["data"]
    for zone_id, zone in nested.items():
        assert list(zone) == ["zone_id", "name", "description", "seats"] and zone["zone_id"] == zone_id
        for key, seat in zone["seats"].items():
            assert list(seat) == ["seat_id", "admission"] and seat["seat_id"] == f"{zone_id}-{key}"
    flat = api.json(
        f"/shows/{show_id}/seats",
        {"flat": True, "select": ["max_quantity", "free_quantity", "payed_quantity", "disabled"]},
    )["data"]
    assert set(flat) == {s["seat_id"] for z in nested.values() for s in z["seats"].values()}
    for seat in flat.values():
        assert list(seat) == ["max_quantity", "free_quantity", "payed_quantity", "disabled"]
        assert 0 <= seat["free_quantity"] <= seat["max_quantity"] and isinstance(seat["disabled"], bool)
    full = api.json(f"/shows/{show_id}/seats", {"flat": True})["data"]
    some = next(iter(full.values()))
    assert {
        "id",
        "root_id",
        "zone_id",
        "admission",
        "ordered_quantity",
        "in_basket_quantity",
        "available",
    } <= set(some)
    only_free = api.json(
        f"/shows/{show_id}/seats", {"flat": True, "where": [{"column": "available", "value": 1}]}
    )
    assert set(only_free["data"]) == {k for k, v in full.items() if v["available"]}
    assert api.get("/shows/1/seats").json()["code"] == "RESOURCE_NOT_FOUND"


def test_barcodes_list_only_valid_tickets(api):
    orders = _all(api)
    valid = {}
    for o in orders:
        for b in o["baskets"]:
            if o["payed"] and not o["deleted_at"] and not b["refunded_at"] and not b["deleted_at"]:
                valid.setdefault(b["show_id"], set()).add(b["barcode"])
    show_id = max(valid, key=lambda s: len(valid[s]))
    rows = api.get(f"/shows/{show_id}/barcodes").json()
    assert isinstance(rows, list) and {r["barcode"] for r in rows} == valid[show_id]
    assert set(rows[0]) == {
        "barcode",
        "admission",
        "price",
        "seat_name",
        "zone_name",
        "row",
        "place",
        "client_name",
        "client_surname",
        "client_middlename",
    }
    picked = api.get(f"/shows/{show_id}/barcodes", {"select": ["barcode"]}).json()
    assert all(list(r) == ["barcode"] for r in picked)
    # A selection mixing the ticket's and the seat's fields, the scan, and a field no list has.
    mixed = api.get(f"/shows/{show_id}/barcodes",
                    {"select": ["zone_name", "barcode", "checked_at", "nope"]}).json()
    assert [{k: r[k] for k in ("zone_name", "barcode")} for r in rows] == [
        {k: r[k] for k in ("zone_name", "barcode")} for r in mixed]
    assert all(list(r) == ["zone_name", "barcode", "checked_at"] for r in mixed)
    scans = {b["barcode"]: b["checked_at"] for o in orders for b in o["baskets"]}
    assert {r["barcode"]: r["checked_at"] for r in mixed} == {code: scans[code] for code in valid[show_id]}
    one = api.json(f"/shows/{show_id}/barcode/{rows[0]['barcode']}")
    assert list(one) == ["barcode", "checked_at"]


def test_non_get_calls_are_refused_and_logged(fresh_api, fresh_sb):
    base = fresh_sb.base_url
    s = fresh_api.session
    assert s.delete(base + "/orders/1/baskets", json={"refund": [1]}).status_code == 503
    assert s.post(base + "/shows/1/barcodes", json={}).status_code == 503
    assert s.put(base + "/events/5", json={}).status_code == 503
    assert fresh_api.get("/orders", {"page": 2}).status_code == 200
    r = s.patch(base + "/orders", json={})
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")
    before = fresh_sb.truth()
    log = [(e["method"], e["path"], e["status"]) for e in fresh_sb.requests()]
    assert log == [
        ("DELETE", "/api/rest/v1/orders/1/baskets", 503),
        ("POST", "/api/rest/v1/shows/1/barcodes", 503),
        ("PUT", "/api/rest/v1/events/5", 503),
        ("GET", "/api/rest/v1/orders", 200),
        ("PATCH", "/api/rest/v1/orders", 404),
    ]
    assert fresh_sb.requests()[0]["body"] == {"refund": [1]}
    assert fresh_sb.requests()[3]["body"] == {"page": 2}
    assert before == fresh_sb.truth()  # nothing was written


def test_range_on_the_leading_sort_column_matches_a_client_side_filter(api):
    # Keyset paging (`updated_at >= cursor` sorted by updated_at, id) is answered by bisection; it must agree
    # with the row-by-row filter, including bounds on both sides, strict operators and mixed conditions.
    orders = _all(api)
    stamps = sorted({o["updated_at"] for o in orders})
    low, high = stamps[len(stamps) // 4], stamps[3 * len(stamps) // 4]
    prices = sorted({o["price"] for o in orders})
    order_by = {"updated_at": "asc", "id": "asc"}
    cases = [
        ([{"column": "updated_at", "operator": ">=", "value": low}], lambda o: o["updated_at"] >= low),
        ([{"column": "updated_at", "operator": ">", "value": low}], lambda o: o["updated_at"] > low),
        (
            [
                {"column": "updated_at", "operator": ">=", "value": low},
                {"column": "updated_at", "operator": "<", "value": high},
                {"column": "payed", "value": 1},
            ],
            lambda o: low <= o["updated_at"] < high and o["payed"],
        ),
        ([{"column": "updated_at", "operator": "<=", "value": low}], lambda o: o["updated_at"] <= low),
    ]
    for where, keep in cases:
        want = [o["id"] for o in sorted(orders, key=lambda o: (o["updated_at"], o["id"])) if keep(o)]
        assert _all_where(api, where, order_by) == want, where
        assert 0 < len(want) < len(orders), where
    # a number given as a string takes the row-by-row path (numeric comparison), not a string bisection
    mid = prices[len(prices) // 2]
    where = [{"column": "price", "operator": ">=", "value": str(mid)}]
    want = [o["id"] for o in sorted(orders, key=lambda o: (o["price"], o["id"])) if o["price"] >= mid]
    assert _all_where(api, where, {"price": "asc"}) == want
