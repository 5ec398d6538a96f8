"""Bad input ends the run with one clear line: a malformed base_url, API values of the wrong type, no key."""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from tap_qtickets.decoding import item_type, set_fields
from tap_qtickets.errors import QTicketsError
from tap_qtickets.normalize import RecordNormalizer
from tap_qtickets.schemas import stream_schema
from tap_qtickets.tap import TapQTickets
from tapqt_helpers import TOKEN

BIN = Path(sys.executable).parent


def run_tap_cli(config: dict, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    config_file = tmp_path / "tap-config.json"
    config_file.write_text(json.dumps(config))
    return subprocess.run([str(BIN / "tap-qtickets"), "--config", str(config_file), *extra],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.e2e
@pytest.mark.parametrize("bad_url", ["htp//127.0.0.1:notaport/api", "127.0.0.1:8080/api/rest/v1",
                                     "ftp://qtickets.ru/api", "https://", "http://127.0.0.1:notaport/api"])
def test_malformed_base_url_fails_at_once_naming_the_setting(tmp_path, bad_url):
    done = run_tap_cli({"api_token": TOKEN, "base_url": bad_url}, tmp_path)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "tap-qtickets failed:" in line]
    assert len(errors) == 1, done.stderr[-2000:]
    assert "base_url" in errors[0] and repr(bad_url) in errors[0]
    assert "retry" not in done.stderr and "giving up" not in done.stderr  # no request was attempted
    assert "Traceback" not in done.stderr
    assert TOKEN not in done.stderr + done.stdout
    assert "RECORD" not in done.stdout


@pytest.mark.e2e
def test_discovery_does_not_need_a_valid_base_url(tmp_path):
    # Discovery reads no API (Meltano discovers before every run), so it does not validate settings.
    done = run_tap_cli({"api_token": TOKEN, "base_url": "htp//nowhere"}, tmp_path, "--discover")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "orders" in {s["tap_stream_id"] for s in json.loads(done.stdout)["streams"]}


@pytest.mark.unit
@pytest.mark.parametrize("url", ["htp//127.0.0.1/api/events", "127.0.0.1/api/events",
                                 "http://127.0.0.1:notaport/api/events"])
def test_invalid_request_urls_are_not_retried(url):
    stream = TapQTickets(config={"api_token": TOKEN, "base_url": "http://127.0.0.1:9/api"}).streams["discounts"]
    attempts = []

    def send() -> requests.Response:
        attempts.append(url)
        return requests.get(url, timeout=1)

    with pytest.raises(QTicketsError, match="check the base_url setting") as caught:
        stream.request_decorator(send)()
    assert len(attempts) == 1
    assert TOKEN not in str(caught.value)


ORDER = {"id": 17, "event_id": 5, "payed": True, "price": "1200.00",
         "updated_at": "2025-03-14T18:02:11+03:00", "site": {"id": 3, "host": "example.org"}}


@pytest.fixture
def orders() -> RecordNormalizer:
    return RecordNormalizer(stream_schema("orders"), "orders", key="id")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("field", "bad", "expected"),
    [
        ("price", "1 200,00 руб.", "decimal"),
        ("price", {"amount": 1}, "decimal"),
        ("price", "NaN", "decimal"),
        ("event_id", "event-17", "integer"),
        ("event_id", Decimal("1.5"), "integer"),
        ("payed", "yes", "boolean"),
        ("updated_at", "14.03.2025 18:02", "date-time"),
        ("updated_at", 1741964531, "date-time"),
    ],
)
def test_wrong_type_names_stream_record_field_and_value(orders, field, bad, expected):
    with pytest.raises(QTicketsError) as caught:
        orders({**ORDER, field: bad})
    assert str(caught.value) == f"orders: record id=17: field '{field}' expects {expected}, got {bad!r}"


@pytest.mark.unit
def test_wrong_type_in_a_nested_field_names_its_path(orders):
    expected = r"^orders: record id=17: field 'site\.id' expects integer, got 'x'$"
    with pytest.raises(QTicketsError, match=expected):
        orders({**ORDER, "site": {"id": "x", "host": "example.org"}})


@pytest.mark.unit
def test_number_field_rejects_text():
    schema = {"properties": {"id": {"type": ["integer"]}, "lat": {"type": ["number", "null"]}}}
    normalize = RecordNormalizer(schema, "places", key="id")
    assert normalize({"id": 1, "lat": 55}) == {"id": 1, "lat": 55}
    with pytest.raises(QTicketsError, match=r"^places: record id=1: field 'lat' expects number, got '55,7'$"):
        normalize({"id": 1, "lat": "55,7"})


@pytest.mark.unit
def test_long_values_are_cut_short_in_the_message(orders):
    with pytest.raises(QTicketsError) as caught:
        orders({**ORDER, "price": "x" * 5000})
    message = str(caught.value)
    assert message.startswith("orders: record id=17: field 'price' expects decimal, got 'xxx")
    assert len(message) < 200


@pytest.mark.unit
@pytest.mark.parametrize("row", [{k: v for k, v in ORDER.items() if k != "id"}, {**ORDER, "id": None}])
def test_record_without_its_key_is_named(orders, row):
    expected = r"^orders: record id=<missing>: field 'id' \(key property\) is missing"
    with pytest.raises(QTicketsError, match=expected):
        orders(row)


@pytest.mark.unit
def test_right_types_and_php_empties_still_pass(orders):
    out = orders({**ORDER, "event_id": "", "reserved": [], "payed_at": ""})
    assert out["price"] == "1200.00" and out["event_id"] is None and out["reserved"] is None
    assert out["payed_at"] is None and out["updated_at"] == "2025-03-14T15:02:11+00:00"
    assert out["site"] == {"id": 3, "host": "example.org"}


@pytest.mark.unit
def test_a_basket_decoded_as_a_struct_is_conformed_and_checked_as_a_row_is():
    """Baskets are decoded into `item_type` Structs: the same values as a dict row, unset fields left
    unset, and the same one-line errors."""
    sales = RecordNormalizer(stream_schema("sales"), "sales", key="id")
    basket = item_type("Basket", sales.properties)
    values = {"id": 5, "price": 1500, "discount_value": Decimal("12.50"), "quantity": 1, "seat_id": "P-1;2",
              "created_at": "2025-03-14T18:02:11+03:00", "checked_at": None, "utm": [], "refunds": []}
    assert set_fields(t.cast("t.Any", sales.conform_item)(basket(**values))) == sales.conform(dict(values))
    for field, bad, expected in (("price", "abc", "decimal"), ("created_at", "вчера", "date-time"),
                                 ("quantity", "two", "integer")):
        with pytest.raises(QTicketsError) as caught:
            t.cast("t.Any", sales.conform_item)(basket(**{**values, field: bad}))
        assert str(caught.value) == f"sales: record id=5: field '{field}' expects {expected}, got {bad!r}"
    for missing in ({k: v for k, v in values.items() if k != "id"}, {**values, "id": None}):
        with pytest.raises(QTicketsError, match=r"^sales: record id=<missing>: field 'id' \(key property\)"):
            t.cast("t.Any", sales.conform_item)(basket(**missing))
