"""Bad configuration through the real CLI: each case exits non-zero with one clear line naming the problem
(the CLI's own ERROR line, last), nothing loaded and no bookmark. (Contradicting window arguments:
orchestrate/tests/test_pipeline_windows.py and test_run.py; a numeric setting from the environment is
accepted by every run here: the harness sets TAP_QTICKETS_REQUEST_TIMEOUT and friends.)"""

from __future__ import annotations

import pytest
from reliability_harness import api_requests, failure_lines, token_leaks

pytestmark = pytest.mark.e2e


def loaded_rows(pipe) -> int:
    if not (pipe.work / "ch").exists():
        return 0
    with pipe.client() as client:
        tables = client.query(
            "SELECT name FROM system.tables WHERE database = 'zakaz' AND name LIKE 'stg\\_%'"
        ).result_rows
        return sum(client.query(f"SELECT count() FROM zakaz.`{t}`").result_rows[0][0] for (t,) in tables)


def assert_rejected(pipe, result, *names: str) -> str:
    assert result.returncode != 0, result.stderr[-2000:]
    lines = failure_lines(result.stderr)
    assert len(lines) == 1, f"expected one error line, got: {lines or result.stderr[-2000:]}"
    assert result.stderr.rstrip().endswith(lines[0]), "the cause is not the last line"
    assert any(n in lines[0] for n in names), f"{lines[0]!r} does not name {names}"
    assert loaded_rows(pipe) == 0
    assert pipe.bookmark() is None
    assert token_leaks(pipe) == []
    return lines[0]


def test_unwritable_log_file(pipe, sandbox, tmp_path):
    not_a_dir = tmp_path / "plain-file"
    not_a_dir.write_text("")
    result = pipe.cli("run", LOG_FILE=str(not_a_dir / "run.log"))
    assert result.returncode != 0 and "LOG_FILE" in result.stderr, result.stderr[-2000:]
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # no log to write it to: one line
    assert loaded_rows(pipe) == 0 and not api_requests(sandbox)


def test_missing_token(pipe, sandbox):
    # In the demo environment meltano.yml supplies the sandbox token; prod has no fallback.
    result = pipe.cli("run", "--environment", "prod", QTICKETS_TOKEN="")
    assert_rejected(pipe, result, "QTICKETS_TOKEN", "api_token")
    assert not api_requests(sandbox)


def test_malformed_base_url(pipe, sandbox):
    result = pipe.cli("run", QTICKETS_BASE_URL="htp//127.0.0.1:notaport/api")
    assert_rejected(pipe, result, "QTICKETS_BASE_URL")
    assert not api_requests(sandbox)


def test_unknown_stream_selected(pipe, sandbox):
    result = pipe.cli("run", TAP_QTICKETS__SELECT='["tickets_v2.*"]')
    line = assert_rejected(pipe, result, "tickets_v2")
    assert "TAP_QTICKETS__SELECT" in line
    assert not api_requests(sandbox)


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
