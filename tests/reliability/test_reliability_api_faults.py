"""Scenarios 1-9: API faults injected through /_sandbox/faults while the real pipeline runs."""

from __future__ import annotations

import pytest
import requests
from reliability_harness import (
    TOKEN,
    api_requests,
    assert_failed_run,
    finish_scenario,
    job_runs,
    token_leaks,
    utc,
)

pytestmark = pytest.mark.e2e

# One transient fault per scenario, on the second /orders page (the middle of the incremental stream).
# Each burst is shorter than max_retries (3), so the run must recover by itself.
TRANSIENT = {
    "s01_429_retry_after": {"fault": "status", "status": 429, "retry_after": 1, "count": 3},
    "s02_503_unknown_error_burst": {"fault": "status", "status": 503, "count": 3},
    "s04_slow_beyond_timeout": {"fault": "delay", "seconds": 3, "count": 2},  # request_timeout is 2 s
    "s05_dropped_connections": {"fault": "drop", "count": 3},
    "s06_truncated_json": {"fault": "truncate", "count": 3},
}


def _assert_success(result, pipe) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_runs(pipe)[-1][0] == "success"
    assert pipe.bookmark() is not None


@pytest.mark.parametrize("scenario", sorted(TRANSIENT))
def test_transient_api_fault_is_retried(scenario, pipe, sandbox):
    rule = {"match": "/api/rest/v1/orders", "after": 1, **TRANSIENT[scenario]}
    sandbox.set_faults([rule])
    result = pipe.cli("run")
    hits = sandbox.faults()[0]["hits"]
    assert hits == rule["count"], f"the fault fired {hits} times, expected {rule['count']}"
    _assert_success(result, pipe)
    assert "retry" in (pipe.work / "pipeline.log").read_text().lower()
    finish_scenario(pipe, sandbox)


def test_s03_persistent_500s_fail_loudly_and_next_run_recovers(pipe, sandbox):
    first = pipe.cli("run")
    _assert_success(first, pipe)
    bookmark = pipe.bookmark()
    sandbox.advance(30)

    sandbox.set_faults([{"match": "/api/rest/v1/orders", "fault": "status", "status": 500}])
    failed = pipe.cli("run")
    assert sandbox.faults()[0]["hits"] == 4  # 1 try + max_retries
    assert_failed_run(pipe, failed.returncode, failed.stderr, bookmark, "500", "giving up")

    sandbox.clear_faults()
    clean = pipe.cli("run")
    _assert_success(clean, pipe)
    assert [r[0] for r in job_runs(pipe)] == ["success", "failed", "success"]
    finish_scenario(pipe, sandbox)


def test_s07_wrong_token_fails_loudly_and_next_run_recovers(pipe, sandbox):
    wrong = "wrong-token-5d1c9e"
    failed = pipe.cli("run", QTICKETS_TOKEN=wrong)
    error = assert_failed_run(pipe, failed.returncode, failed.stderr, None, "403", "api_token")
    assert wrong not in error and wrong not in failed.stderr + failed.stdout
    assert {r["status"] for r in api_requests(sandbox)} == {403}

    clean = pipe.cli("run")
    _assert_success(clean, pipe)
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


def test_s08_api_ignoring_filters_still_loads_exactly(pipe, sandbox):
    first = pipe.cli("run")
    _assert_success(first, pipe)
    sandbox.advance(30)

    # The production risk: /orders answers every order in id order, whatever `where`/`orderBy` say.
    sandbox.set_faults([{"match": "/api/rest/v1/orders", "fault": "ignore_filters"}])
    result = pipe.cli("run")
    assert sandbox.faults()[0]["hits"] > 0
    _assert_success(result, pipe)
    loaded = pipe.query("SELECT max(updated_at) FROM zakaz.stg_qtickets_orders_raw")[0][0]
    assert utc(pipe.bookmark()) == utc(loaded)
    finish_scenario(pipe, sandbox)


def _newest_order_id(sandbox) -> int:
    answer = requests.get(f"{sandbox.base_url}/orders", json={"orderBy": {"id": "desc"}, "per_page": 1},
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    return answer.json()["data"][0]["id"]


def test_s09_page_drift_while_paging(pipe, sandbox):
    # Every /orders page request first creates 2 paid orders and updates 2 others "now".
    sandbox.set_faults([{"match": "/api/rest/v1/orders", "fault": "page_drift", "orders": 2}])
    newest_before = _newest_order_id(sandbox)
    result = pipe.cli("run")
    assert sandbox.faults()[0]["hits"] >= 2
    _assert_success(result, pipe)
    sandbox.clear_faults()
    truth = sandbox.truth()
    # Orders created while the order pass paged are all in: its keyset cursor follows them. (Those the
    # drift adds during the ticket pass come with the next run, as the contract allows.)
    order_pass = [r for r in api_requests(sandbox, "/orders")
                  if (r["body"].get("where") or [{}])[0].get("column") == "updated_at"]
    created = sorted({t["order_id"] for t in truth["tickets"] if t["order_id"] > newest_before})
    assert len(created) > 2 * len(order_pass), "the drift did not outlast the order pass"
    loaded = {r[0] for r in pipe.query("SELECT DISTINCT order_id FROM zakaz.v_sales_latest")}
    assert set(created[: 2 * len(order_pass)]) <= loaded

    clean = pipe.cli("run")
    _assert_success(clean, pipe)
    finish_scenario(pipe, sandbox)


@pytest.mark.parametrize("mode", ["reject", "empty"])
def test_s15_nested_filter_unusable_falls_back_and_stays_exact(mode, pipe, sandbox):
    # The other production risk: `where baskets.updated_at` answered with a 503, or silently with nothing.
    sandbox.set_faults([{"match": "/api/rest/v1/orders", "fault": "dotted_filters", "mode": mode}])
    first = pipe.cli("run")
    _assert_success(first, pipe)
    sandbox.advance(360)  # scans and refunds under unchanged orders happen meanwhile
    second = pipe.cli("run")
    _assert_success(second, pipe)
    assert sandbox.faults()[0]["hits"] > 0
    assert "does not honour the nested filter" in (pipe.work / "pipeline.log").read_text()
    finish_scenario(pipe, sandbox)
