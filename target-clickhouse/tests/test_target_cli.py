"""The real CLI: clear errors with a non-zero exit, the chdb lock, the default URL, no leaked secrets,
and retried inserts that do not duplicate rows."""

from __future__ import annotations

import os
import socket

import pytest
from target_clickhouse.connection import open_client
from target_clickhouse.connector import ClickHouseConnector
from target_clickhouse.errors import ClickHouseConnectionError, ConfigError
from target_clickhouse.redaction import redact_url
from target_clickhouse.rows import RowEncoder

PROPS = {"id": {"type": "integer"}, "price": {"type": ["string", "null"], "format": "x-singer.decimal"}}


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_locked_directory_is_reported_clearly(warehouse):
    holder = open_client(warehouse.url, database=warehouse.database)
    try:
        result = warehouse.run_cli(warehouse.lines([warehouse.schema("orders", PROPS, ["id"])]),
                                   lock_wait_seconds=1)
    finally:
        holder.close()
    assert result.returncode == 1
    assert f"is in use by pid {os.getpid()} (" in result.stderr and "(Code: 76" in result.stderr
    assert "only one process at a time may open a chdb directory" in result.stderr


@pytest.mark.e2e
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


@pytest.mark.e2e
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


@pytest.mark.integration
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"url": "ftp://host"}, "unsupported scheme"),
        ({"url": "chdb://"}, "names no directory"),
        ({"database": "bad\nname"}, "setting 'database' name 'bad\\nname' contains control characters"),
        # declared constraints, checked by the SDK's config validation
        ({"table_name_pattern": "x"}, "'x' does not match '{stream}' in config['table_name_pattern']"),
        ({"batch_size_rows": 0}, "0 is less than the minimum of 1 in config['batch_size_rows']"),
        ({"batch_size_rows": True}, "True is not of type 'integer', 'null' in config['batch_size_rows']"),
        ({"insert_retries": -1}, "-1 is less than the minimum of 0 in config['insert_retries']"),
        ({"flush_interval_seconds": -5}, "-5 is less than or equal to the minimum of 0 in config"),
        ({"engine": "Log"}, "'Log' is not one of ['ReplacingMergeTree', 'MergeTree'] in config['engine']"),
    ],
)
def test_bad_settings_are_named(warehouse, overrides, message):
    with pytest.raises(ConfigError) as info:
        warehouse.run([warehouse.schema("orders", PROPS, ["id"])], **overrides)
    assert message in str(info.value)
    assert "\n" not in str(info.value)  # one line


@pytest.mark.e2e
def test_bad_setting_fails_the_cli_with_one_line(warehouse):
    result = warehouse.run_cli("", batch_size_rows=0)
    assert result.returncode == 1
    assert "invalid settings: 0 is less than the minimum of 1 in config['batch_size_rows']" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_retried_insert_does_not_duplicate_rows(warehouse):
    """A retry after a lost acknowledgement re-sends the same block with the same token: no new rows,
    even on a MergeTree (no keys) table where nothing would collapse them."""
    with ClickHouseConnector(warehouse.config()) as connector:
        table = connector.table_name("events")
        columns = connector.prepare_table("events", table, {"properties": {"n": {"type": "integer"}}}, [])
        encoder = RowEncoder("events", columns, [])
        body = encoder.body([encoder.from_record({"n": n}, None) for n in range(10)], 1)
        connector.insert(table, body, encoder.column_names, count=10, token="events:1:10")
        connector.insert(table, body, encoder.column_names, count=10, token="events:1:10")  # the "retry"
        assert connector.client.command(f"SELECT count() FROM {connector.full_table_name(table)}") == 10
