"""Scenario 14: malformed records from the API, served through a rewriting proxy in front of the sandbox.
How the tap names each kind of invalid record (wrong types, a missing key, …): tap-qtickets/tests/
test_tap_bad_input.py; here one kind shows what the whole pipeline does with it."""

from __future__ import annotations

import pytest
from reliability_harness import assert_failed_run, finish_scenario, job_runs
from reliability_proxy import HUGE, RewritingProxy, tolerable, wrong_types

pytestmark = pytest.mark.e2e


def test_s14a_unknown_fields_and_huge_strings_load_exactly(pipe, sandbox):
    with RewritingProxy(sandbox.root_url, tolerable) as proxy:
        result = pipe.cli("run", QTICKETS_BASE_URL=proxy.root_url + "/api/rest/v1")
    assert proxy.rewritten >= 1
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_runs(pipe)[-1][0] == "success"
    longest = pipe.query("SELECT max(length(payment_type_id)) FROM zakaz.stg_qtickets_orders_raw")[0][0]
    assert longest == len(HUGE.encode())  # stored whole, not cut or dropped
    finish_scenario(pipe, sandbox)


def test_s14b_invalid_records_fail_loudly_and_next_run_recovers(pipe, sandbox):
    with RewritingProxy(sandbox.root_url, wrong_types) as proxy:
        failed = pipe.cli("run", QTICKETS_BASE_URL=proxy.root_url + "/api/rest/v1")
    assert proxy.rewritten >= 1
    error = assert_failed_run(pipe, failed.returncode, failed.stderr, None, "orders")
    assert any(field in error for field in ("price", "event_id")), error

    clean = pipe.cli("run")
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert [r[0] for r in job_runs(pipe)] == ["failed", "success"]
    finish_scenario(pipe, sandbox)
