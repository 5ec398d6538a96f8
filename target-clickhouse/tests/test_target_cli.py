"""The real CLI: clear errors with a non-zero exit, the chdb lock, the default URL, no leaked secrets,
and retried inserts that do not duplicate rows."""

from __future__ import annotations

import socket

import pytest
from target_clickhouse.connection import open_client, redact_url
from target_clickhouse.errors import ClickHouseConnectionError, ConfigError
from target_clickhouse.target import TargetClickHouse

PROPS = {"id": {"type": "integer"}, "price": {"type": ["string", "null"], "format": "x-singer.decimal"}}


def test_bad_record_fails_the_cli_with_one_clear_message(warehouse):
    stdin = warehouse.lines(
        [
            warehouse.schema("orders", PROPS, ["id"]),
            warehouse.record("orders", {"id": 1, "price": "1.5"}),
            {"type": "STATE", "value": {"bookmark": 1}},
            warehouse.record("orders", {"id": 2, "price": "1,5"}),
            {"type": "STATE", "value": {"bookmark": 2}},
        ]
    )
    result = warehouse.run_cli(stdin)
    assert result.returncode == 1
    assert "stream 'orders', field 'price': cannot load value '1,5': not a decimal number" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # no STATE: the batch holding the bad record was not loaded


def test_locked_directory_is_reported_clearly(warehouse):
    holder = open_client(warehouse.url, database=warehouse.database)
    try:
        result = warehouse.run_cli(warehouse.lines([warehouse.schema("orders", PROPS, ["id"])]))
    finally:
        holder.close()
    assert result.returncode == 1
    assert "is in use by another process (Code: 76" in result.stderr
    assert "only one process at a time may open a chdb directory" in result.stderr


def test_default_url_is_data_clickhouse_under_the_working_directory(tmp_path, warehouse):
    messages = [warehouse.schema("orders", PROPS, ["id"]), warehouse.record("orders", {"id": 5})]
    result = warehouse.run_cli(warehouse.lines(messages), cwd=tmp_path, url=None)
    assert result.returncode == 0, result.stderr
    client = open_client(f"chdb://{tmp_path / 'data' / 'clickhouse'}", database=warehouse.database)
    try:
        assert client.query("SELECT id FROM stg_qtickets_orders_raw").result_rows == [(5,)]
    finally:
        client.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_credentials_never_appear_in_errors_or_logs(warehouse, caplog):
    url = f"http://loader:s3cr3t-pw@127.0.0.1:{_closed_port()}"
    assert redact_url(url).startswith("http://***@127.0.0.1:")
    with pytest.raises(ClickHouseConnectionError) as info:
        open_client(url)
    assert "s3cr3t-pw" not in str(info.value)
    assert "***@127.0.0.1" in str(info.value)
    with pytest.raises(ClickHouseConnectionError) as info:
        open_client(f"http://127.0.0.1:{_closed_port()}", username="u", password="other-secret")
    assert "other-secret" not in str(info.value)

    stdin = warehouse.lines([warehouse.schema("orders", PROPS, ["id"])])
    result = warehouse.run_cli(stdin, url=url, password="pw-setting-secret")
    assert result.returncode == 1
    assert "cannot connect to ClickHouse at http://***@127.0.0.1" in result.stderr
    assert "s3cr3t-pw" not in result.stderr + result.stdout
    assert "pw-setting-secret" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"url": "ftp://host"}, "unsupported scheme"),
        ({"url": "chdb://"}, "names no directory"),
        ({"table_name_pattern": "fixed"}, "must contain '{stream}'"),
        ({"database": "bad\nname"}, "control characters"),
        ({"batch_size_rows": 0}, "must be an integer >= 1"),
        ({"insert_retries": -1}, "must be an integer >= 0"),
        ({"flush_interval_seconds": -5}, "must be > 0"),
    ],
)
def test_bad_settings_are_named(warehouse, overrides, message):
    with pytest.raises(ConfigError, match="setting") as info:
        warehouse.run([warehouse.schema("orders", PROPS, ["id"])], **overrides)
    assert message in str(info.value)


def test_retried_insert_does_not_duplicate_rows(warehouse):
    """A retry after a lost acknowledgement re-sends the same block with the same token: no new rows,
    even on a MergeTree (no keys) table where nothing would collapse them."""
    target = TargetClickHouse(config=warehouse.config())
    try:
        target._process_schema_message(warehouse.schema("events", {"n": {"type": "integer"}}, []))
        sink = target.get_sink("events")
        for n in range(10):
            sink.add_record({"n": n}, "2025-01-01T00:00:00Z")
        rows, sink._rows = sink._rows, []
        columns = sink._convert_columns([list(column) for column in zip(*rows, strict=True)])
        columns += [[0] * 10, [0] * 10, range(1, 11)]
        sink._insert_with_retries(columns, "events:1:10")
        sink._insert_with_retries(columns, "events:1:10")  # the "retry"
        assert target.client.command("SELECT count() FROM stg_qtickets_events_raw") == 10
    finally:
        target.close()
