"""An API that keeps failing, through the whole pipeline: the run fails loudly, the ledger records why, the
bookmark stays, and the next run loads exactly what the first missed.

Transient faults (429 + Retry-After, 5xx bursts, timeouts, dropped connections, truncated JSON), an API
that ignores filters, page drift and an unusable nested filter are the tap's to absorb and are tested there
(tap-qtickets/tests: test_tap_faults.py, test_tap_incremental.py, test_tap_ticket_changes.py); a wrong
token through the whole pipeline: orchestrate/tests/test_run.py."""

from __future__ import annotations

import pytest
import requests
from reliability_harness import (
    TOKEN,
    assert_failed_run,
    finish_scenario,
    job_runs,
    token_leaks,
)

pytestmark = pytest.mark.e2e


def advance_until_an_order_changes(sandbox, bookmark: str) -> None:
    """Half hours of sandbox time until an order changed after `bookmark` (the sandbox's clock follows the
    wall clock: at night half an hour may change none, and the recovery would then prove nothing)."""
    body = {"per_page": 1, "where": [{"column": "updated_at", "operator": ">", "value": bookmark}]}
    for _ in range(48):
        sandbox.advance(30)
        answer = requests.get(f"{sandbox.base_url}/orders", json=body, timeout=30,
                              headers={"Authorization": f"Bearer {TOKEN}"})
        if answer.json()["data"]:
            return
    raise AssertionError("no order changed in 24 sandbox hours")


def test_s03_persistent_500s_fail_loudly_and_next_run_recovers(pipe, sandbox):
    first = pipe.cli("run")
    assert first.returncode == 0, first.stderr[-3000:]
    bookmark = pipe.bookmark()
    assert bookmark is not None
    advance_until_an_order_changes(sandbox, bookmark)

    sandbox.set_faults([{"match": "/api/rest/v1/orders", "fault": "status", "status": 500}])
    failed = pipe.cli("run")
    assert sandbox.faults()[0]["hits"] == 4  # 1 try + max_retries
    assert_failed_run(pipe, failed.returncode, failed.stderr, bookmark, "500", "giving up")

    sandbox.clear_faults()
    clean = pipe.cli("run")
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert [r[0] for r in job_runs(pipe)] == ["success", "failed", "success"]
    assert pipe.bookmark() > bookmark
    finish_scenario(pipe, sandbox)

    # The leak check itself must be able to fail: plant the token in a table and a log file.
    with pipe.client() as client:
        client.command(
            "INSERT INTO zakaz.meta_job_runs (job_name, run_id, error) VALUES ('probe', 'probe', {e:String})",
            parameters={"e": f"header Bearer {TOKEN}"},
        )
    (pipe.work / "planted.log").write_text(TOKEN)
    assert sorted(token_leaks(pipe)) == sorted(
        [str(pipe.work / "planted.log"), "clickhouse zakaz.meta_job_runs (1 rows)"]
    )
