"""Fixtures: one embedded ClickHouse directory per session, a fresh database per test, and runners for
the target in-process and as the real CLI (a subprocess reading Singer messages on stdin)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from target_clickhouse.connection import open_client
from target_clickhouse.connector import ClickHouseConnector
from target_clickhouse.target import TargetClickHouse


def singer_lines(messages: list[dict], compact: bool = False) -> str:
    """JSON lines; `compact` as singer-sdk taps write them (no spaces)."""
    separators = (",", ":") if compact else None
    return "".join(json.dumps(message, separators=separators) + "\n" for message in messages)


def schema_message(stream: str, properties: dict, keys: list[str]) -> dict:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": properties},
        "key_properties": keys,
    }


def record_message(stream: str, record: dict, extracted: str = "2025-03-14T12:00:00+00:00") -> dict:
    return {"type": "RECORD", "stream": stream, "record": record, "time_extracted": extracted}


class Warehouse:
    """The session's chdb directory plus this test's database name."""

    schema = staticmethod(schema_message)
    record = staticmethod(record_message)
    lines = staticmethod(singer_lines)

    def __init__(self, directory: Path, database: str) -> None:
        self.directory = directory
        self.database = database
        self.url = f"chdb://{directory}"

    def config(self, **overrides) -> dict:
        return {"url": self.url, "database": self.database, **overrides}

    def run(
        self, messages: list[dict], *, binary: bool = False, compact: bool = False, **overrides
    ) -> list[dict]:
        """Run the target in this process; returns the STATE values it emitted.

        `binary` feeds the messages as bytes (the CLI's stdin path: chunked reader, raw records);
        otherwise as text (the SDK's line-by-line reader). `compact`: see `singer_lines`."""
        return self.run_text(singer_lines(messages, compact), binary=binary, **overrides)

    def run_text(self, text: str, *, binary: bool = False, **overrides) -> list[dict]:
        """`run` with the Singer messages as text."""
        target = TargetClickHouse(config=self.config(**overrides))
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                target.listen(io.BytesIO(text.encode()) if binary else io.StringIO(text))
        finally:
            target.close()
        return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]

    def run_cli(self, stdin: str, cwd: Path | None = None, **overrides) -> subprocess.CompletedProcess:
        config_path = self.directory.parent / f"config-{uuid.uuid4().hex}.json"
        config_path.write_text(json.dumps(self.config(**overrides)))
        return subprocess.run(
            [sys.executable, "-m", "target_clickhouse", "--config", str(config_path)],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def connector(self) -> ClickHouseConnector:
        """A connector on this test's database (use it as a context manager)."""
        return ClickHouseConnector(self.config())

    def command(self, sql: str) -> None:
        client = open_client(self.url, database=self.database)
        try:
            client.command(sql)
        finally:
            client.close()

    def query(self, sql: str, **parameters) -> list[tuple]:
        client = open_client(self.url, database=self.database)
        try:
            return client.query(sql, parameters=parameters or None).result_rows
        finally:
            client.close()

    def column_types(self, table: str) -> dict[str, str]:
        rows = self.query(
            "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String}",
            db=self.database,
            t=table,
        )
        return dict(rows)


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("target-clickhouse") / "clickhouse"


@pytest.fixture
def warehouse(chdb_dir: Path) -> Warehouse:
    return Warehouse(chdb_dir, f"test_{uuid.uuid4().hex[:12]}")
