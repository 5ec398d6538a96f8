"""The `account` setting: every record carries it, it ends every key, and the SCHEMA messages give it as the
default (what rows loaded before the column existed take) even when the catalog came from a discovery with
another account or from before accounts."""

from __future__ import annotations

import pytest
from qtickets_sandbox.testing import SandboxServer
from singer_sdk.exceptions import ConfigValidationError
from tap_qtickets.tap import TapQTickets
from tapqt_helpers import TOKEN, catalog_for, run_tap, sandbox_config

STREAMS = ("events", "shows", "orders", "sales", "inventory")


@pytest.fixture(scope="module")
def sb():
    with SandboxServer(seed=31, orders=40, events=2, token=TOKEN) as server:
        yield server


def without_account(catalog: dict) -> dict:
    for entry in catalog["streams"]:
        entry["schema"]["properties"].pop("account")
        entry["key_properties"] = [k for k in entry["key_properties"] if k != "account"]
        entry["metadata"] = [m for m in entry["metadata"] if m["breadcrumb"] != ["properties", "account"]]
    return catalog


@pytest.mark.integration
@pytest.mark.parametrize("catalog_of", ["main", "none"])
def test_records_keys_and_schema_default_are_the_configured_account(sb, catalog_of):
    discovered = catalog_for(sandbox_config(sb), STREAMS)
    catalog = without_account(discovered) if catalog_of == "none" else discovered
    tap = TapQTickets(config=sandbox_config(sb, account="spb"), catalog=catalog)
    entries = {entry.tap_stream_id: entry for entry in tap.catalog.streams}
    for stream in STREAMS:
        assert entries[stream].key_properties[-1] == "account"
        assert tap.streams[stream].primary_keys[-1] == "account"
    out = run_tap(sandbox_config(sb, account="spb"), catalog=catalog)
    assert set(out["records"]) == set(STREAMS)
    for stream, records in out["records"].items():
        assert {record["account"] for record in records} == {"spb"}, stream
        assert out["schemas"][stream]["properties"]["account"]["default"] == "spb"
    assert out["state"]["sync"]["account"] == "spb"


@pytest.mark.unit
def test_an_account_name_that_is_no_identifier_is_refused_up_front():
    with pytest.raises(ConfigValidationError) as refused:
        TapQTickets(config={"api_token": TOKEN, "account": "Moscow office"})
    assert refused.value.errors == ["'Moscow office' does not match '^[A-Za-z0-9_-]+$' in config['account']"]
