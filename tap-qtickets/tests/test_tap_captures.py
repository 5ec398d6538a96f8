"""Every real capture goes through the streams' record post-processing: types, UTC, decimals, no PII."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from jsonschema import Draft7Validator, FormatChecker
from tap_qtickets.schemas import PII_FIELDS
from tap_qtickets.tap import TapQTickets
from tapqt_helpers import TOKEN, hand_over

pytestmark = pytest.mark.unit

UTC_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
PII_VALUE_RE = re.compile(r"@example\.org|\+7900000|https?://example\.org/(pay|cancel|ticket)", re.I)


def load(captures, name: str):
    return json.loads((captures / name).read_text(), parse_float=Decimal)


def make_tap(include_pii: bool = False) -> TapQTickets:
    return TapQTickets(config={"api_token": TOKEN, "include_pii": include_pii})


def check_record(stream, record: dict) -> None:
    """Valid against the stream schema; date-times UTC; money decimal strings."""
    errors = [e.message for e in Draft7Validator(stream.schema, format_checker=FormatChecker())
              .iter_errors(record)]
    assert not errors, (stream.name, errors[:3])
    for name, prop in stream.schema["properties"].items():
        value = record.get(name)
        if value is None:
            continue
        if prop.get("format") == "date-time":
            assert UTC_RE.match(value), (stream.name, name, value)
        if prop.get("format") == "x-singer.decimal":
            assert isinstance(value, str) and Decimal(value) == Decimal(value), (name, value)


def test_orders_and_sales_from_the_orders_capture(captures_dir):
    tap = make_tap()
    orders, sales = tap.streams["orders"], tap.streams["sales"]
    raw = load(captures_dir, "orders_list_page1.json")["data"]
    page = orders.order_decoder.decode((captures_dir / "orders_list_page1.json").read_bytes())
    out = [orders.post_process(row) for row in page["data"]]
    hand_over(orders, sales)
    baskets = list(sales.get_records(None))
    assert len(out) == 50
    assert len(baskets) == sum(len(o["baskets"]) for o in raw)
    for record in out:
        check_record(orders, record)
        assert not PII_FIELDS["orders"] & record.keys()
        assert "baskets" not in record
        assert not PII_VALUE_RE.search(json.dumps(record)), record["id"]
    for record in baskets:
        check_record(sales, record)
        assert not PII_FIELDS["sales"] & record.keys()
        assert not PII_VALUE_RE.search(json.dumps(record)), record["id"]
    first_raw, first = raw[0], out[0]
    assert first["updated_at"] == "2021-05-27T17:35:43+00:00"  # 20:35:43+03:00
    assert first["price"] == str(first_raw["price"]) and first["original_price"] == "390"
    assert first["utm"] is None and first_raw["utm"] == []  # PHP empty map
    assert first["payed"] is True and first["tickets_count"] == len(first_raw["baskets"])
    # order-level totals are the sum of the ticket lines (captured invariant survives the transform)
    by_order: dict[int, Decimal] = {}
    for b in baskets:
        by_order[b["order_id"]] = by_order.get(b["order_id"], Decimal(0)) + Decimal(b["price"])
    for record in out:
        if record["tickets_count"]:
            assert by_order[record["id"]] == Decimal(record["price"])
    cancelled = [b for b in baskets if b["order_deleted_at"]]
    assert cancelled and all(b["payed"] is False and b["deleted_at"] for b in cancelled)
    sample = baskets[0]
    assert sample["zone_id"] == sample["seat_id"].rsplit("-", 1)[0]
    assert {"order_id", "event_id", "show_id", "payed_at", "currency_id", "utm"} <= sample.keys()


def test_include_pii_keeps_buyer_fields(captures_dir):
    tap = make_tap(include_pii=True)
    orders, sales = tap.streams["orders"], tap.streams["sales"]
    record = orders.post_process(msgspec.convert(load(captures_dir, "order_detail.json")["data"],
                                                 orders.order_row))
    hand_over(orders, sales)
    assert record["client"]["email"].endswith("@example.org")
    assert record["payment_url"].startswith("https://")
    basket = next(iter(sales.get_records(None)))
    assert basket["barcode"] and basket["client_email"]
    assert record["integrations"] == {"roistat": {"roistat_visit": None}}


def test_events_and_nested_shows(captures_dir):
    tap = make_tap()
    events, shows = tap.streams["events"], tap.streams["shows"]
    raw = load(captures_dir, "events_list_page1.json")["data"]
    events.shared.shows = {}
    for event in raw:
        record = events.post_process(event)
        check_record(events, record)
        assert record["city_timezone"] == event["city"]["timezone"]
        assert "shows" not in record and record["shows_count"] == len(event["shows"])
    hand_over(events, shows)
    show_records = [shows.post_process(show) for show in shows.get_records(None)]
    assert len(show_records) == sum(len(e["shows"]) for e in raw) == 40
    for record in show_records:
        check_record(shows, record)
        assert record["event_id"] in {e["id"] for e in raw}
        assert "scheme_properties" not in record
        for price in record["prices"]:
            assert isinstance(price["color_theme"], str) and isinstance(price["default_price"], str)


@pytest.mark.parametrize(
    ("stream_name", "capture", "pii_free"),
    [("clients", "clients_list_page1.json", True), ("discounts", "discounts_list.json", False),
     ("promo_codes", "promo_codes_list.json", True)],
)
def test_reference_lists(captures_dir, stream_name, capture, pii_free):
    stream = make_tap().streams[stream_name]
    stream.selected = True  # as a catalog that wants `clients` does (not selected by default)
    raw = load(captures_dir, capture)["data"]
    out = [stream.post_process(r) for r in raw]
    assert len(out) == len(raw) and all(r["id"] == s["id"] for r, s in zip(out, raw, strict=True))
    for record in out:
        check_record(stream, record)
        assert not PII_FIELDS.get(stream_name, frozenset()) & record.keys()
        if pii_free:
            assert not PII_VALUE_RE.search(json.dumps(record))
    if stream_name == "discounts":
        deleted = [r for r in out if r["deleted_at"]]
        assert deleted and all(r["deleted_at"] == r["updated_at"] for r in deleted)


def test_every_capture_file_is_covered(captures_dir):
    """New capture files must be wired into a test here (or listed as non-record answers)."""
    covered = {"orders_list_page1.json", "order_detail.json", "events_list_page1.json",
               "clients_list_page1.json", "discounts_list.json", "promo_codes_list.json"}
    errors = {p.name for p in captures_dir.glob("error_*")} | {"partners_wrong_authorization.json"}
    docs = {"README.md", "headers.md"}
    assert {p.name for p in captures_dir.iterdir()} == covered | errors | docs


def test_schemas_cover_the_record_contract():
    """docs/contracts.md "Tap → target record contract": every stream, key and relied-on field exists."""
    contract = (Path(__file__).resolve().parents[2] / "docs" / "contracts.md").read_text()
    section = contract.split("## Tap → target record contract", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:4] for line in section.splitlines() if line.startswith("| ")]
    rows = [[cell.strip() for cell in row] for row in rows if row[0].strip() not in ("stream", "---")]
    tap = make_tap()
    assert {row[0] for row in rows} == set(tap.streams)
    for stream_name, keys, fields in rows:
        stream = tap.streams[stream_name]
        assert tuple(stream.primary_keys) == tuple(k.strip() for k in keys.split(","))
        wanted = {f.strip().split(" ")[0] for f in fields.split(",")}
        missing = wanted - stream.schema["properties"].keys()
        assert not missing, (stream_name, missing)


@pytest.mark.parametrize("include_pii", [False, True])
def test_clients_is_selected_by_default_only_with_pii(include_pii):
    """Without PII a client record is a bare id: the default catalog leaves the stream out (a catalog that
    selects it still gets it); every other stream is selected by default."""
    catalog = make_tap(include_pii).catalog_dict
    default = {entry["tap_stream_id"]: next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])
               for entry in catalog["streams"]}
    assert default["clients"]["selected"] is include_pii
    assert default["clients"]["selected-by-default"] is include_pii
    assert all(meta["selected"] for name, meta in default.items() if name != "clients")
    assert make_tap(include_pii).streams["clients"].selected is include_pii
