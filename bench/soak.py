"""Soak: 48 simulated half-hour cycles of the real pipeline with random faults, exact truth after each.

Each cycle advances the sandbox clock by 30 minutes; with probability --fault-rate one fault from the
reliability matrix (tests/reliability/) is injected into that cycle's run, and when a fault was injected
a clean run follows (the next scheduled run). After every cycle the views are compared with
/_sandbox/truth: tickets lost, duplicated or different in v_sales_latest, and show×zone rows different
in v_inventory_latest. Prints one line per cycle and a summary; exits 1 if any difference remains.

    .venv/bin/python bench/soak.py [--cycles 48] [--fault-rate 0.3] [--seed 7] [--orders 300]
                                   [--refund-bumps-order true|false]

Production leaves open whether a refund bumps the order's updated_at: run it once with each value.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "reliability"))
sys.path.insert(0, str(REPO / "tests" / "support"))

from pipeline_testing import (  # noqa: E402
    actual_sales,
    attendance_pair,
    expected_sales,
    inventory_pair,
    sales_differences,
)
from qtickets_sandbox.testing import SandboxServer  # noqa: E402
from reliability_harness import (  # noqa: E402
    TOKEN,
    Pipeline,
    api_requests,
    assert_only_gets,
    install_project,
    kill_when,
    token_leaks,
    wait_for,
)
from reliability_proxy import RewritingProxy, missing_id, wrong_types  # noqa: E402

ORDERS = "/api/rest/v1/orders"
SLOW = {"match": ORDERS, "fault": "delay", "seconds": 0.5}
API_FAULTS = {
    "429_retry_after": {"match": ORDERS, "fault": "status", "status": 429, "retry_after": 1, "count": 2},
    "503_burst": {"match": "/api/rest/v1/", "fault": "status", "status": 503, "count": 3},
    "500_persistent": {"match": ORDERS, "fault": "status", "status": 500},
    "slow_beyond_timeout": {"match": ORDERS, "fault": "delay", "seconds": 3, "count": 2},
    "dropped_connections": {"match": "/api/rest/v1/", "fault": "drop", "count": 3},
    "truncated_json": {"match": "/api/rest/v1/", "fault": "truncate", "count": 3},
    "ignore_filters": {"match": ORDERS, "fault": "ignore_filters"},
    "page_drift": {"match": ORDERS, "fault": "page_drift", "orders": 2},
    "nested_filter_rejected": {"match": ORDERS, "fault": "dotted_filters", "mode": "reject"},
    "nested_filter_empty": {"match": ORDERS, "fault": "dotted_filters", "mode": "empty"},
}
OTHER_FAULTS = ["wrong_token", "clickhouse_locked", "kill_target", "kill_tap", "overlap", "malformed"]


def differences(pipe: Pipeline, truth: dict) -> dict[str, int]:
    """Counts of what differs between the views and the truth (all 0 when exact): tickets lost, extra,
    duplicated or different in any field (by field), show×zone rows of inventory and attendance."""
    actual, row_count = actual_sales(pipe)
    by_field = sales_differences(expected_sales(truth), actual)
    inventory, want = inventory_pair(pipe, truth)
    attendance, expected_attendance = attendance_pair(pipe, truth)
    return {
        "lost": len(by_field.pop("lost", [])),
        "extra": len(by_field.pop("extra", [])),
        "duplicated": row_count - len(actual),
        "different": len({ticket for tickets in by_field.values() for ticket in tickets}),
        **{f"different.{field}": len(tickets) for field, tickets in sorted(by_field.items())},
        "inventory": len(set(want.items()) ^ set(inventory.items())),
        "attendance": len(set(expected_attendance.items()) ^ set(attendance.items())),
    }


def faulty_run(pipe: Pipeline, sb: SandboxServer, fault: str, rng: random.Random) -> int:
    """Run the pipeline once with `fault` injected; returns the run's exit code."""
    if fault in API_FAULTS:
        sb.set_faults([API_FAULTS[fault]])
        try:
            return pipe.cli("run").returncode
        finally:
            sb.clear_faults()
    if fault == "wrong_token":
        return pipe.cli("run", QTICKETS_TOKEN="soak-wrong-token").returncode
    if fault == "clickhouse_locked":
        with pipe.client():
            return pipe.cli("run").returncode
    if fault == "malformed":
        with RewritingProxy(sb.root_url, rng.choice([wrong_types, missing_id])) as proxy:
            return pipe.cli("run", QTICKETS_BASE_URL=proxy.root_url + "/api/rest/v1").returncode
    sb.set_faults([SLOW])
    seen = len(api_requests(sb, "/orders"))
    try:
        run = pipe.spawn("run", TAP_QTICKETS_PAGE_SIZE="10", TARGET_CLICKHOUSE_BATCH_SIZE_ROWS="20")
        if fault == "overlap":
            wait_for(lambda: len(api_requests(sb, "/orders")) > seen, what="the first run")
            second = pipe.cli("run")
            if second.returncode != 0 or "skipped" not in second.stderr:
                print(f"    overlap: second run did not skip cleanly: {second.stderr[-200:]}")
                return 2
        else:
            plugin = "target-clickhouse" if fault == "kill_target" else "tap-qtickets"
            try:
                kill_when(run, plugin, lambda: len(api_requests(sb, "/orders")) > seen)
            except AssertionError as exc:
                print(f"    {fault}: kill did not land ({exc})")
        return pipe.finish(run)[0]
    finally:
        sb.clear_faults()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=48)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--refund-bumps-order", choices=("true", "false"), default="true")
    args = parser.parse_args()
    semantics = {"refund_bumps_order": args.refund_bumps_order == "true"}
    rng = random.Random(args.seed)
    kinds = sorted(API_FAULTS) + OTHER_FAULTS
    faults: Counter[str] = Counter()
    failed = recovered = skipped_overlaps = 0
    total_diff: Counter[str] = Counter()
    diff: dict[str, int] = {}
    walls: list[float] = []
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="soak-") as tmp,
        SandboxServer(seed=args.seed, orders=args.orders, events=8, token=TOKEN, semantics=semantics) as sb,
    ):
        t0 = time.monotonic()
        project = install_project(Path(tmp) / "project")
        print(f"meltano install: {time.monotonic() - t0:.1f} s")
        pipe = Pipeline(project, Path(tmp) / "work", sb.base_url, LOG_LEVEL="INFO")
        t0 = time.monotonic()
        first = pipe.cli("run")
        print(f"backfill run: exit {first.returncode}, {time.monotonic() - t0:.1f} s")
        if first.returncode != 0:
            print(first.stderr[-3000:])
            return 1
        for cycle in range(1, args.cycles + 1):
            t0 = time.monotonic()
            sb.advance(30)
            fault = rng.choice(kinds) if rng.random() < args.fault_rate else None
            note = "clean"
            if fault:
                faults[fault] += 1
                code = faulty_run(pipe, sb, fault, rng)
                skipped_overlaps += fault == "overlap" and code == 0
                note = f"{fault}: exit {code}"
                if code != 0:
                    failed += 1
                clean = pipe.cli("run")  # the next scheduled run, with the fault gone
                if code != 0 and clean.returncode == 0:
                    recovered += 1
            else:
                clean = pipe.cli("run")
            if clean.returncode != 0:
                note += f"; CLEAN RUN FAILED: {clean.stderr.strip().splitlines()[-1][:200]}"
            diff = differences(pipe, sb.truth())
            total_diff.update(diff)
            walls.append(time.monotonic() - t0)
            print(
                f"cycle {cycle:2d}: {walls[-1]:5.1f} s  {note:<40} "
                + " ".join(f"{k}={v}" for k, v in diff.items()),
                flush=True,
            )
        assert_only_gets(sb)
        leaks = token_leaks(pipe)
        statuses = Counter(r[0] for r in pipe.query("SELECT status FROM zakaz.meta_job_runs FINAL"))
    print("\n== soak summary")
    print(f"cycles: {args.cycles} (30 sim. minutes each), fault rate {args.fault_rate:.0%}, "
          f"seed {args.seed}, "
          f"semantics {semantics}")
    kinds_seen = ", ".join(f"{k}={v}" for k, v in sorted(faults.items()))
    print(f"faults injected: {sum(faults.values())} ({kinds_seen})")
    print(f"faulty runs failed (exit != 0): {failed}; recovered by the next clean run: {recovered}")
    print(f"overlapping runs skipped cleanly: {skipped_overlaps}")
    print(f"meta_job_runs statuses: {dict(statuses)}")
    print(f"requests: GET-only to the API: yes; token leaks: {leaks or 'none'}")
    print(f"final differences (after the last cycle): {diff} -> {sum(diff.values())}")
    print(f"differences summed over all cycles: {sum(total_diff.values())}")
    print(
        f"wall per cycle: median {statistics.median(walls):.1f} s, min {min(walls):.1f} s, "
        f"max {max(walls):.1f} s; total {time.monotonic() - started:.0f} s"
    )
    return 0 if sum(total_diff.values()) == 0 and not leaks else 1


if __name__ == "__main__":
    sys.exit(main())
