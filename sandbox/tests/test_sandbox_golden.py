"""Responses have exactly the key sets (in order) and JSON types of the production captures."""

import json
import re

import pytest
from qtickets_sandbox.shapes import differences, shape

pytestmark = pytest.mark.integration

# Types the sandbox emits that the captured page happens not to show, each documented in qtickets-api.md:
# staff-created orders carry backend_user_id (int), refunded tickets carry refunded_at (§5.2), and
# clients.details.middlename is a string for some buyers (clients capture).
ALLOWED = {
    "data[].backend_user_id": {"integer"},
    "data[].baskets[].refunded_at": {"string"},
    "data[].client.details.middlename": {"string"},
    "data[].shows[].sale_start_date": {"string"},
}

LISTS = [
    ("/orders", "orders_list_page1.json", 50),
    ("/events", "events_list_page1.json", 10),
    ("/clients", "clients_list_page1.json", 100),
    ("/discounts", "discounts_list.json", 100),
    ("/promo-codes", "promo_codes_list.json", 500),
]


@pytest.mark.parametrize(("path", "name", "default_size"), LISTS)
def test_list_shapes_match_capture(api, capture, path, name, default_size):
    everything = api.json(path, {"per_page": 1000})
    assert differences(everything, capture(name), ALLOWED) == []
    default_page = api.json(path)
    assert default_page["paging"]["perPage"] == default_size == capture(name)["paging"]["perPage"]
    assert list(default_page) == ["data", "paging"]
    assert list(default_page["paging"]) == ["perPage", "currentPage", "total"]


def test_list_shapes_cover_the_quirks(api, capture):
    """The sandbox produces the captured variety, not a subset: nulls, [] vs objects, is_active types."""
    got = shape(api.json("/orders", {"per_page": 1000}))
    want = shape(capture("orders_list_page1.json"))
    for path in (
        "data[].utm",
        "data[].payed_at",
        "data[].deleted_at",
        "data[].baskets[].barcode",
        "data[].baskets[].checked_at",
        "data[].baskets[].refunded_amount",
        "data[].promo_code_id",
        "data[].payment_card_number",
    ):
        assert got[path]["types"] == want[path]["types"], path
    assert got["data[].utm"]["keys"] == want["data[].utm"]["keys"]  # 3-key and 5-key UTM shapes
    events = shape(api.json("/events", {"per_page": 100}))
    assert events["data[].is_active"]["types"] == {"integer"}
    assert events["data[].payments[].is_active"]["types"] == {"boolean"}
    assert (
        events["data[].shows[].scheme_properties.seats{}"]["keys"]
        <= shape(capture("events_list_page1.json"))["data[].shows[].scheme_properties.seats{}"]["keys"]
    )


def test_order_detail_matches_capture(api, capture):
    order = api.json("/orders", {"per_page": 1})["data"][0]
    detail = api.json(f"/orders/{order['id']}")
    # The captured detail is one paid order; what the captured list shows for its orders counts too.
    listed = [{"data": o} for o in capture("orders_list_page1.json")["data"]]
    allowed = {k.replace("data[]", "data", 1): v for k, v in ALLOWED.items()}
    assert differences(detail, capture("order_detail.json"), allowed, extra=listed) == []
    assert list(detail) == ["data"]
    # Identical to the list item except `integrations`, as captured.
    assert detail["data"]["integrations"] == {"roistat": {"roistat_visit": None}}
    assert order["integrations"] == []
    assert {**detail["data"], "integrations": []} == order


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/orders/999999999", "error_404_order.json"),
        ("/events/999999999", "error_404_event.json"),
        ("/clients/235", "error_404_client.json"),
        ("/discounts/colors", "error_404_discount_nonnumeric_id.json"),
    ],
)
def test_not_found_json_is_byte_faithful(api, capture, path, name):
    r = api.get(path)
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == capture(name)
    # Wire form: compact with PHP's escaped inner quotes.
    assert r.content == json.dumps(capture(name), separators=(",", ":")).encode()


def test_unknown_route_serves_the_captured_html(api, captures_dir):
    html = (captures_dir / "error_404_route.html").read_bytes()
    for path in ("/events/12/seats", "/barcodes", "/barcodes/scan/870000000001"):
        r = api.get(path)
        assert (r.status_code, r.headers["Content-Type"], r.content) == (
            404,
            "text/html; charset=UTF-8",
            html,
        )
    r = api.session.post(api.sb.base_url + "/orders/filter", json={"payed": True})
    assert (r.status_code, r.content) == (404, html)


def test_error_bodies(api, capture, shared_sb):
    r = api.session.get(shared_sb.base_url + "/events", headers={"Authorization": "Bearer wrong"})
    assert (r.status_code, r.json()) == (403, capture("error_403_auth.json"))
    r = api.session.post(shared_sb.base_url + "/orders", json={"where": [{"column": "payed", "value": 1}]})
    assert (r.status_code, r.json()) == (503, capture("error_503_unknown.json"))
    assert "Vary" not in r.headers and "X-Cache-Status" not in r.headers
    r = api.get("/orders?page=1&per_page=200&where=%5B%5D")
    assert (r.status_code, r.json()) == (503, capture("error_503_unknown_get_query.json"))
    r = api.session.post(shared_sb.root_url + "/api/partners/v1/tickets/find", json={"filter": {"id": "1"}})
    assert (r.status_code, r.json()) == (200, capture("partners_wrong_authorization.json"))


def test_wire_format_is_php_style(api):
    r = api.get("/orders", {"per_page": 5})
    body = r.content
    assert b"https:\\/\\/example.org\\/pay\\/" in body
    assert b"\\u" in body and max(body) < 128  # non-ASCII only as \uXXXX
    php_style = json.dumps(r.json(), ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")
    assert body == php_style.encode()
    assert r.headers["Server"] == "nginx/1.14.1"
    assert r.headers["X-Cache-Status"] == "MISS"
    assert r.headers["Cache-Control"] == "no-cache, private"


def test_datetimes_are_moscow_offsets(api):
    text = api.get("/orders", {"per_page": 1000}).text + api.get("/events", {"per_page": 100}).text

    stamps = re.findall(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^"]*)"', text)
    assert stamps and all(s.endswith("+03:00") and len(s) == 25 for s in stamps)
