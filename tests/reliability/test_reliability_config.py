"""Bad configuration: each case exits non-zero with one clear line naming the problem, nothing loaded."""

from __future__ import annotations

import pytest
from reliability_harness import api_requests, token_leaks

pytestmark = pytest.mark.e2e


@pytest.fixture
def refund_bumps_order() -> bool:
    return True  # bad configuration fails before any data moves: one semantics is enough


def loaded_rows(pipe) -> int:
    if not (pipe.work / "ch").exists():
        return 0
    with pipe.client() as client:
        tables = client.query(
            "SELECT name FROM system.tables WHERE database = 'zakaz' AND name LIKE 'stg\\_%'"
        ).result_rows
        return sum(client.query(f"SELECT count() FROM zakaz.`{t}`").result_rows[0][0] for (t,) in tables)


def error_lines(result) -> list[str]:
    """The lines the CLI prints for the user (the log records before them are context)."""
    return [ln for ln in result.stderr.splitlines() if ln.startswith(("error:", "run ", "Error:"))]


def assert_rejected(pipe, result, *names: str) -> str:
    assert result.returncode != 0, result.stdout[-2000:]
    lines = error_lines(result)
    assert len(lines) == 1, f"expected one error line, got: {lines or result.stderr[-2000:]}"
    assert any(n in lines[0] for n in names), f"{lines[0]!r} does not name {names}"
    assert loaded_rows(pipe) == 0
    assert token_leaks(pipe) == []
    return lines[0]


def test_since_after_to(pipe, sandbox):
    result = pipe.cli("run", "--since", "2026-11-20", "--to", "2026-11-10")
    assert_rejected(pipe, result, "--since")
    assert not api_requests(sandbox)


def test_unwritable_log_file(pipe, sandbox, tmp_path):
    not_a_dir = tmp_path / "plain-file"
    not_a_dir.write_text("")
    result = pipe.cli("run", LOG_FILE=str(not_a_dir / "run.log"))
    assert_rejected(pipe, result, "LOG_FILE")
    assert not api_requests(sandbox)


def test_missing_token(pipe, sandbox):
    # In the demo environment meltano.yml supplies the sandbox token; prod has no fallback.
    result = pipe.cli("run", "--environment", "prod", QTICKETS_TOKEN="")
    assert_rejected(pipe, result, "QTICKETS_TOKEN", "api_token")
    assert not api_requests(sandbox)


def test_malformed_base_url(pipe, sandbox):
    result = pipe.cli("run", QTICKETS_BASE_URL="htp//127.0.0.1:notaport/api")
    assert_rejected(pipe, result, "base_url", "QTICKETS_BASE_URL")


def test_unknown_stream_selected(pipe, sandbox):
    result = pipe.cli("run", TAP_QTICKETS__SELECT='["tickets_v2.*"]')
    assert_rejected(pipe, result, "tickets_v2")


def test_numeric_setting_from_environment_is_accepted(pipe, sandbox):
    # Not a bad configuration: a valid override that must work (found while building this suite).
    result = pipe.cli("run", TAP_QTICKETS_REQUEST_TIMEOUT="30")
    assert result.returncode == 0, result.stderr[-2000:]


def test_selection_from_environment_is_applied(pipe, sandbox):
    # A valid TAP_QTICKETS__SELECT replaces meltano.yml's selection (the cached catalog must follow it).
    streams = ["events", "shows", "orders", "sales", "inventory"]  # what the transforms read
    result = pipe.cli("run", TAP_QTICKETS__SELECT=str([f"{s}.*" for s in streams]))
    assert result.returncode == 0, result.stderr[-2000:]
    with pipe.client() as client:
        tables = {
            name
            for (name,) in client.query(
                "SELECT name FROM system.tables WHERE database = 'zakaz' AND name LIKE 'stg\\_%'"
            ).result_rows
        }
    assert tables == {f"stg_qtickets_{s}_raw" for s in streams}  # no discounts, no promo_codes
