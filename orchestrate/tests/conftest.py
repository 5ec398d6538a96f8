"""Shared fixtures: an embedded ClickHouse (chdb) in a temp dir holding what a load of target-clickhouse
leaves before its after-load step: staging tables in the contract's shape (docs/contracts.md, "Target →
ClickHouse") and the load ledger `meta_job_runs`; rows are inserted by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
from qtickets_pipeline.settings import load_settings
from qtickets_pipeline.warehouse import connect, ledger

REPO = Path(__file__).resolve().parents[2]

SDC = """_sdc_extracted_at Nullable(DateTime64(6, 'UTC')), _sdc_received_at Nullable(DateTime64(6, 'UTC')),
    _sdc_batched_at Nullable(DateTime64(6, 'UTC')), _sdc_deleted_at Nullable(DateTime64(6, 'UTC')),
    _sdc_version UInt64"""
TS = "Nullable(DateTime64(6, 'UTC'))"
MONEY = "Nullable(Decimal(18, 2))"
STAGING = {
    "events": (
        "id",
        f"""id Int64, name Nullable(String), is_active Nullable(Bool), city_id Nullable(Int64),
        city_name Nullable(String), city_timezone Nullable(String), place_name Nullable(String),
        created_at {TS}, updated_at {TS}, deleted_at {TS}""",
    ),
    "shows": (
        "id",
        f"""id Int64, event_id Nullable(Int64), is_active Nullable(Bool), start_date {TS},
        finish_date {TS}, created_at {TS}, updated_at {TS}, deleted_at {TS}""",
    ),
    "orders": (
        "id",
        f"""id Int64, event_id Nullable(Int64), payed Nullable(Bool), payed_at {TS},
        price {MONEY}, created_at {TS}, updated_at {TS}, deleted_at {TS}""",
    ),
    "sales": (
        "id",
        f"""id Int64, order_id Nullable(Int64), event_id Nullable(Int64), show_id Nullable(Int64),
        seat_id Nullable(String), zone_id Nullable(String), price {MONEY}, original_price {MONEY},
        discount_value {MONEY}, refunded_amount {MONEY}, payed Nullable(Bool), payed_at {TS},
        order_deleted_at {TS}, order_updated_at {TS}, checked_at {TS}, created_at {TS}, updated_at {TS},
        deleted_at {TS}, refunded_at {TS}""",
    ),
    "inventory": (
        "show_id, zone_id, snapshot_at",
        """show_id Int64, zone_id String,
        snapshot_at DateTime64(6, 'UTC'), event_id Nullable(Int64), capacity Nullable(Int64),
        free Nullable(Int64), sold Nullable(Int64), held Nullable(Int64), disabled Nullable(Int64)""",
    ),
}


@pytest.fixture
def sandbox():
    """The end-to-end tests' organiser: small, with every kind of ticket (a module may define its own)."""
    from pipeline_testing import TOKEN
    from qtickets_sandbox.testing import SandboxServer

    with SandboxServer(seed=8, orders=250, events=4, token=TOKEN) as sb:
        yield sb


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """Settings of the real project (its transform/ folder) pointed at a fresh chdb directory."""
    for var in ("CLICKHOUSE_URL", "CLICKHOUSE_DATABASE", "REPORT_TZ", "MELTANO_ENVIRONMENT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLICKHOUSE_URL", f"chdb://{tmp_path / 'ch'}")
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(REPO))
    return load_settings(environment="demo", project_root=REPO)


@pytest.fixture
def staged(settings):
    """An open client on a database holding empty staging tables and the target's (empty) ledger, closed
    after the test."""
    with connect(settings) as client:
        for stream, (key, columns) in STAGING.items():
            client.command(
                f"CREATE TABLE {settings.database}.stg_qtickets_{stream}_raw ({columns}, {SDC}, "
                f"account String) ENGINE = ReplacingMergeTree(_sdc_version) ORDER BY ({key}, account)"
            )
        ledger(client, settings).ensure_table()
        yield client


class Versions:
    """Hands out strictly increasing _sdc_version values, like the target does."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


@pytest.fixture
def version():
    return Versions()


def _insert(client, database: str, stream: str, rows: list[dict]) -> None:
    """One INSERT per call (= one part), so tests see unmerged versions unless they merge on purpose."""
    columns = sorted({k for row in rows for k in row})
    client.insert(
        f"{database}.stg_qtickets_{stream}_raw",
        [[r.get(c) for c in columns] for r in rows],
        column_names=columns,
    )


@pytest.fixture
def insert():
    return _insert


class Stopped(RuntimeError):
    """The process stopped here (killed, the machine went down)."""


class Statements:
    """The real client, recording every statement sent through `command` (the model files' DDL and the mart
    refresh's writes all go that way) and, with `stop_at`, stopping before that statement (0-based)."""

    Stopped = Stopped

    def __init__(self, client, stop_at: int | None = None) -> None:
        self.client, self.stop_at, self.sent = client, stop_at, []

    def command(self, sql, *args, **kwargs):
        if len(self.sent) == self.stop_at:
            raise Stopped(f"stopped before statement {self.stop_at}: {sql[:80]}")
        self.sent.append(sql)
        return self.client.command(sql, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.fixture
def statements(staged):
    """Wraps the test's client: `statements()` records, `statements(stop_at=n)` also stops."""
    return lambda stop_at=None: Statements(staged, stop_at)
