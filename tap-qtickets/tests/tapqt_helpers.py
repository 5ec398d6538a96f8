"""Helpers shared by the tap-qtickets tests (imported via the sys.path entry conftest.py adds)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

TOKEN = "test-token-3f9a"  # distinctive, so a leak into output is detectable
ALL_STREAMS = ("events", "shows", "inventory", "orders", "sales", "clients", "discounts", "promo_codes",
               "color_themes")


def catalog_for(config: dict, streams: tuple[str, ...]) -> dict:
    """Discovered catalog with only `streams` selected."""
    from tap_qtickets.tap import TapQTickets

    catalog = TapQTickets(config=config).catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def run_tap(config: dict, state: dict | None = None, streams: tuple[str, ...] | None = None,
            catalog: dict | None = None) -> dict:
    """Run the tap in-process (with `catalog`, or one selecting `streams`); returns records per stream, the
    last STATE and the raw messages."""
    out = run_tap_partial(config, state, streams, catalog)
    if out["error"] is not None:
        raise out["error"]
    return out


def run_tap_partial(config: dict, state: dict | None = None, streams: tuple[str, ...] | None = None,
                    catalog: dict | None = None) -> dict:
    """Like run_tap, but a failure is returned (with everything emitted before it) instead of raised."""
    from tap_qtickets.tap import TapQTickets

    if catalog is None and streams:
        catalog = catalog_for(config, streams)
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8")  # the msgspec writer writes to sys.stdout.buffer
    error = None
    tap = TapQTickets(config=config, state=state, catalog=catalog)
    with redirect_stdout(stdout):
        try:
            tap.sync_all()
        except Exception as exc:
            error = exc
        stdout.flush()
    result = parse_messages(raw.getvalue().decode("utf-8"))
    result["error"] = error
    result["tap"] = tap
    return result


def parse_messages(text: str) -> dict:
    records: dict[str, list[dict]] = {}
    schemas: dict[str, dict] = {}
    state = None
    for line in text.splitlines():
        msg = json.loads(line)
        if msg["type"] == "RECORD":
            records.setdefault(msg["stream"], []).append(msg["record"])
        elif msg["type"] == "SCHEMA":
            schemas[msg["stream"]] = msg["schema"]
        elif msg["type"] == "STATE":
            state = msg["value"]
    return {"records": records, "schemas": schemas, "state": state, "raw": text}


def hand_over(parent, child) -> None:
    """Pass the parent's pending payload to `child`, as the SDK does when the parent's last record is out."""
    parent.handover.at_last_record = True
    for context in parent.generate_child_contexts({}, None):
        child.preprocess_context(context)
    parent.handover.at_last_record = False


def sandbox_config(sb, **extra) -> dict:
    config = {"api_token": TOKEN, "base_url": sb.base_url, "page_size": 100, "retry_backoff_seconds": 0.05,
              "request_timeout": 5, "max_retries": 4}
    config.update(extra)
    return config


def latest_orders(result: dict) -> dict[int, str]:
    """id → latest updated_at among the emitted order records."""
    latest: dict[int, str] = {}
    for record in result["records"].get("orders", []):
        latest[record["id"]] = max(latest.get(record["id"], ""), record["updated_at"])
    return latest


def latest_changes(result: dict) -> dict[int, tuple[str, str]]:
    """order id → (latest order updated_at, latest ticket updated_at) among the emitted orders and sales:
    what a warehouse knows of each order (needs both streams selected)."""
    tickets: dict[int, str] = {}
    for sale in result["records"].get("sales", []):
        tickets[sale["order_id"]] = max(tickets.get(sale["order_id"], ""), sale["updated_at"] or "")
    return {i: (u, tickets.get(i, "")) for i, u in latest_orders(result).items()}


def orders_bookmark(result: dict) -> str:
    return result["state"]["bookmarks"]["orders"]["replication_key_value"]
