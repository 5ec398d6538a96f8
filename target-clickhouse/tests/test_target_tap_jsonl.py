"""Driven by a Singer tap nobody here wrote: PyPI `tap-jsonl` piped into the `target-clickhouse` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".venv-tools" / "tap-jsonl"
TAP = TOOLS / "bin" / "tap-jsonl"
TAP_VERSION = "0.3.1"


@pytest.fixture(scope="session")
def tap_jsonl() -> Path:
    """tap-jsonl in its own venv (its singer-sdk differs from ours); installed once, then reused."""
    if TAP.exists():
        probe = subprocess.run([str(TAP), "--version"], capture_output=True, text=True)
        if probe.returncode == 0 and TAP_VERSION in probe.stdout + probe.stderr:
            return TAP
    uv = Path(sys.executable).parent / "uv"
    subprocess.run([str(uv), "venv", "-q", "--allow-existing", "-p", sys.executable, str(TOOLS)], check=True)
    install = subprocess.run(
        [str(uv), "pip", "install", "-q", "-p", str(TOOLS / "bin" / "python"), f"tap-jsonl=={TAP_VERSION}"],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, f"could not install tap-jsonl from PyPI: {install.stderr}"
    return TAP


def _pipe(tap: Path, tap_config: Path, target_config: Path) -> tuple[str, str]:
    tap_run = subprocess.Popen(
        [str(tap), "--config", str(tap_config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    target_run = subprocess.run(
        [sys.executable, "-m", "target_clickhouse", "--config", str(target_config)],
        stdin=tap_run.stdout,
        capture_output=True,
        text=True,
        timeout=180,
    )
    tap_run.stdout.close()
    tap_err = tap_run.communicate(timeout=60)[1].decode()
    assert tap_run.returncode == 0, tap_err
    assert target_run.returncode == 0, target_run.stderr
    return target_run.stdout, target_run.stderr


def test_tap_jsonl_into_target(tap_jsonl, warehouse, tmp_path):
    files = tmp_path / "in"
    files.mkdir()
    people = [
        {
            "id": 1,
            "name": "Анна",
            "amount": 10,
            "joined": "2025-03-14T18:02:11+03:00",
            "tags": ["a"],
            "address": {"city": "Kazan", "zip": "420000"},
            "active": True,
        },
        {
            "id": 2,
            "name": "Bob",
            "amount": 2.75,
            "joined": "2025-03-14T15:02:11Z",
            "tags": [],
            "address": None,
            "active": False,
        },
    ]
    more = [
        {
            "id": 3,
            "name": None,
            "amount": -1,
            "joined": "2025-01-01T00:00:00-05:00",
            "tags": ["x", "y"],
            "address": {"city": "Omsk"},
            "active": None,
        },
        {
            "id": 1,
            "name": "Анна К.",
            "amount": 11.5,
            "joined": "2025-03-14T18:02:11+03:00",
            "tags": ["a"],
            "address": {"city": "Kazan"},
            "active": True,
        },
    ]
    (files / "a.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in people))
    (files / "b.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in more))
    tap_config = tmp_path / "tap.json"
    tap_config.write_text(
        json.dumps({"path": str(files / "*.jsonl"), "stream_name": "people", "primary_keys": ["id"]})
    )
    target_config = tmp_path / "target.json"
    target_config.write_text(json.dumps(warehouse.config(table_name_pattern="jsonl_{stream}")))

    stdout, _ = _pipe(tap_jsonl, tap_config, target_config)
    assert stdout.strip(), "the target passed no STATE through"
    _pipe(tap_jsonl, tap_config, target_config)  # a second full run must not add visible rows

    types = warehouse.column_types("jsonl_people")
    assert types["id"] == "Int64"
    assert types["amount"] == "Nullable(Float64)"
    assert types["joined"] == "Nullable(DateTime64(6, 'UTC'))"
    assert types["active"] == "Nullable(Bool)"
    assert types["address"] == types["tags"] == "Nullable(String)"
    rows = warehouse.query(
        "SELECT id, name, amount, toString(joined), tags, address, active FROM jsonl_people FINAL ORDER BY id"
    )
    # id 1 appears twice (a.jsonl then b.jsonl); the later record wins, the rerun adds nothing visible.
    assert [row[0] for row in rows] == [1, 2, 3]
    assert rows[0][:3] == (1, "Анна К.", 11.5)  # tap-jsonl reads files in sorted order: b.jsonl is later
    assert rows[1] == (2, "Bob", 2.75, "2025-03-14 15:02:11.000000", "[]", None, False)
    assert rows[2] == (3, None, -1.0, "2025-01-01 05:00:00.000000", '["x","y"]', '{"city":"Omsk"}', None)
    assert rows[0][3] == "2025-03-14 15:02:11.000000"  # +03:00 → UTC
    assert json.loads(rows[0][5]) == {"city": "Kazan"}
