"""The throughput shortcuts keep the slow paths' results: UTC strings, message order, deselection, maps."""

from __future__ import annotations

import datetime as dt
import io
import json
from contextlib import redirect_stdout

import pytest
from qtickets_sandbox.testing import SandboxServer
from singer_sdk import singerlib as singer
from singer_sdk.contrib.msgspec import MsgSpecWriter
from tap_qtickets.normalize import MOSCOW, to_utc_iso
from tap_qtickets.writer import BufferedMsgSpecWriter
from tapqt_helpers import TOKEN, catalog_for, run_tap, sandbox_config

pytestmark = pytest.mark.integration


def _via_datetime(value: str) -> str:
    parsed = dt.datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=MOSCOW)).astimezone(dt.UTC).isoformat()


def test_fast_utc_shift_matches_datetime_at_every_hour_and_day_boundary():
    start = dt.datetime(2024, 2, 27, 0, 0, 7, tzinfo=MOSCOW)  # crosses Feb 29 and a month end
    for step in range(0, 4 * 24 * 60, 7):
        text = (start + dt.timedelta(minutes=step)).isoformat()
        assert to_utc_iso(text) == _via_datetime(text), text
    for text in ("2025-03-14T18:02:11Z", "2025-03-14T18:02:11+0300", "2025-03-14 18:02:11",
                 "2025-03-14T18:02:11.250000+03:00", "2025-03-14T18:02:11+05:00",
                 "2025-W11-5T18:02:11+03:00", "2025-03-14T01:59:59+03:00"):
        assert to_utc_iso(text) == _via_datetime(text.replace("+0300", "+03:00")), text


@pytest.mark.parametrize("bad", ["2025-13-14T18:02:11+03:00", "2025-02-30T18:02:11+03:00",
                                 "2025-03-14T18:61:11+03:00", "2025-03-14T18:02:6x+03:00",
                                 "2025-03-14T24:02:11+03:00", "not-a-date-xy:02:11+03:00"])
def test_fast_utc_shift_rejects_what_datetime_rejects(bad):
    with pytest.raises(ValueError):
        to_utc_iso(bad)


def test_buffered_records_are_written_before_the_next_state():
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8")
    writer = BufferedMsgSpecWriter()
    now = dt.datetime.now(dt.UTC)
    with redirect_stdout(stdout):
        for index in range(3):
            writer.write_record("orders", {"id": index}, None, now)
        stdout.flush()
        assert raw.getvalue() == b""  # still batched
        writer.write_message(singer.StateMessage(value={"bookmarks": {}}))
        stdout.flush()
    lines = [json.loads(line) for line in raw.getvalue().decode().splitlines()]
    assert [line["type"] for line in lines] == ["RECORD", "RECORD", "RECORD", "STATE"]
    assert [line["record"]["id"] for line in lines[:3]] == [0, 1, 2]
    expected = singer.RecordMessage(stream="orders", record={"id": 0}, time_extracted=now)
    assert raw.getvalue().splitlines()[0] + b"\n" == MsgSpecWriter().serialize_message(expected)


def test_records_written_now_are_stamped_to_the_second_in_the_sdk_s_form():
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8")
    writer = BufferedMsgSpecWriter()
    with redirect_stdout(stdout):
        writer.write_record("sales", {"id": 7, "price": "10.50"}, 3)
        writer.flush_messages()
        stdout.flush()
    line = raw.getvalue().splitlines()[0] + b"\n"
    stamp = dt.datetime.fromisoformat(json.loads(line)["time_extracted"].replace("Z", "+00:00"))
    assert stamp.microsecond == 0 and stamp.tzinfo is not None
    expected = singer.RecordMessage(stream="sales", record={"id": 7, "price": "10.50"}, version=3,
                                    time_extracted=stamp)
    assert line == MsgSpecWriter().serialize_message(expected)


@pytest.fixture(scope="module")
def sb():
    with SandboxServer(seed=23, orders=90, events=3, token=TOKEN) as server:
        yield server


def test_deselected_property_and_stream_maps_still_apply(sb):
    config = sandbox_config(sb, page_size=40)
    catalog = catalog_for(config, ("orders",))
    orders = next(entry for entry in catalog["streams"] if entry["tap_stream_id"] == "orders")
    for meta in orders["metadata"]:
        if meta["breadcrumb"] == ["properties", "reserved_to"]:
            meta["metadata"]["selected"] = False
    from tap_qtickets.tap import TapQTickets

    out = io.BytesIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8")
    with redirect_stdout(stdout):
        TapQTickets(config=config, catalog=catalog).sync_all()
        stdout.flush()
    records = [json.loads(line)["record"] for line in out.getvalue().decode().splitlines()
               if line.startswith('{"type":"RECORD"')]
    assert len(records) == 90 and all("reserved_to" not in r and "id" in r for r in records)

    mapped = run_tap({**config, "stream_maps": {"orders": {"price": "__NULL__"}}}, streams=("orders",))
    assert len(mapped["records"]["orders"]) == 90
    assert all("price" not in r and "reserved_to" in r for r in mapped["records"]["orders"])


def _without_run_times(state: dict) -> dict:
    """The bookmarks, without when this run made its deep pass and checked the nested filter (the server's
    clock, a second apart between two runs)."""
    bookmarks = json.loads(json.dumps(state["bookmarks"]))
    for stamp in ("deep_pass_at", "basket_filter_checked_at"):
        bookmarks["orders"]["ticket_changes"].pop(stamp, None)
    return bookmarks


@pytest.mark.parametrize("mapped_stream", ["orders", "sales"])
def test_records_written_past_the_sdk_loop_are_the_sdk_loop_s(sb, mapped_stream):
    """Orders (a parent with an unsorted bookmark) and sales (a leaf child, each sale its basket Struct and
    its order's fields encoded once) skip the SDK's per-record steps when their records are plain; with a
    stream map — an identity one here — they take the SDK's loop: the same records, counts and state."""
    config = sandbox_config(sb, page_size=30)
    plain = run_tap(config, streams=("orders", "sales"))
    mapped = run_tap({**config, "stream_maps": {mapped_stream: {"id": "id"}}}, streams=("orders", "sales"))
    for stream in ("orders", "sales"):
        assert plain["records"][stream] == mapped["records"][stream]
    assert len(plain["records"]["orders"]) == 90 and len(plain["records"]["sales"]) > 90
    assert _without_run_times(plain["state"]) == _without_run_times(mapped["state"])
    assert plain["state"]["bookmarks"]["orders"]["replication_key_value"] == max(
        order["updated_at"] for order in plain["records"]["orders"])


def test_basket_fields_read_for_the_tap_s_own_use_never_leave(sb):
    """The fallback decodes each basket's barcode and the passes its seat and `updated_at`: with those two
    deselected, the sales hold neither, nor the barcode, and still their zone — by either write path."""
    config = sandbox_config(sb, page_size=30, basket_filter="off")
    catalog = catalog_for(config, ("events", "orders", "sales"))
    sales = next(entry for entry in catalog["streams"] if entry["tap_stream_id"] == "sales")
    for meta in sales["metadata"]:
        if meta["breadcrumb"] in (["properties", "seat_id"], ["properties", "updated_at"]):
            meta["metadata"]["selected"] = False
    plain = run_tap(config, catalog=catalog)
    mapped = run_tap({**config, "stream_maps": {"sales": {"id": "id"}}}, catalog=catalog)
    assert plain["tap"].streams["orders"].fresh is not None  # the barcodes were decoded
    records = plain["records"]["sales"]
    assert records == mapped["records"]["sales"] and len(records) > 90
    assert all(r["zone_id"] and not {"seat_id", "updated_at", "barcode"} & r.keys() for r in records)


def test_prefetch_requests_exactly_the_pages_it_reads(sb):
    sb.clear_requests()
    result = run_tap(sandbox_config(sb, page_size=20), streams=("orders", "sales"))
    order_requests = [e for e in sb.requests() if e["path"].endswith("/orders")]
    assert len(result["records"]["orders"]) == 90
    assert len(order_requests) == result["tap"].streams["orders"].pages_fetched
    pages = [e["body"]["page"] for e in order_requests]
    assert pages and all(page >= 1 for page in pages)


def test_fast_path_is_pinned_to_the_singer_sdk_it_was_checked_against():
    from importlib.metadata import version

    from singer_sdk.streams import RESTStream
    from tap_qtickets import _fastpath
    from tap_qtickets.tap import TapQTickets

    installed = version("singer-sdk")
    assert installed in _fastpath.SUPPORTED_SDK, (
        f"singer-sdk {installed} is outside {_fastpath.SUPPORTED_SDK}, the range tap_qtickets/_fastpath.py "
        f"was checked against: re-read the SDK's Stream._write_record_message, then move SUPPORTED_SDK")
    assert _fastpath.ENABLED
    stream = TapQTickets(config={"api_token": TOKEN}).streams["orders"]
    missing = [name for name in _fastpath.PRIVATE_NAMES if not hasattr(stream, name)]
    assert missing == [], f"singer-sdk no longer has {missing}: tap_qtickets/_fastpath.py must change"
    assert type(stream).request_records is not RESTStream.request_records  # the prefetching loop is in use


def test_the_proxy_is_still_chosen_by_requests_from_the_environment(monkeypatch):
    """The session asks requests once per host (not per request): the same choice, HTTP(S)_PROXY and
    NO_PROXY honoured."""
    import requests
    from tap_qtickets.client import GetOnlySession

    session = GetOnlySession()

    def proxies(url: str) -> dict:
        return session.proxies_for(requests.Request("GET", url).prepare())

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    for _ in range(2):
        assert proxies("https://qtickets.example/api/rest/v1/orders") == {"https": "http://proxy.example:3128"}
        assert proxies("https://internal.example/api/rest/v1/orders") == {}
        assert proxies("http://qtickets.example/api/rest/v1/orders") == {}
