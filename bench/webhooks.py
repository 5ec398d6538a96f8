"""Benchmark: webhooks into the views — the sandbox sends 100 webhooks/s for 60 s to the real receiver
(`qtickets-pipeline webhooks serve`, a subprocess) on embedded ClickHouse; then the same with the receiver
killed (`kill -9`) mid-stream and restarted, the sandbox's retries delivering what went unanswered.

Latency per payload: from the moment the receiver got it (before its fsync and its 200, so this errs long)
to the end of the batch that made it visible (the marts `v_sales_latest` reads are refreshed), as the
receiver records it (`--latency-log`). "lost": tickets of the sandbox's truth missing from or different in
`v_sales_latest` after everything was delivered (no scheduled run in between: webhooks only), plus
deliveries the sandbox gave up on. Prints p50/p95/max seconds and lost for both runs. Goal (issue 18):
p95 ≤ 5 s, lost 0, also with kill -9.

    .venv/bin/python bench/webhooks.py [--rate 100] [--seconds 60] [--orders 2000] [--project DIR]

`--project DIR` reuses a `meltano install`ed throw-away project (tests/support/pipeline_testing.py
`install_project`); without it one is installed (~1-2 min).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))

from pipeline_testing import (  # noqa: E402
    TOKEN,
    Pipeline,
    actual_sales,
    attendance_pair,
    expected_sales,
    install_project,
    sales_differences,
)
from qtickets_sandbox.testing import SandboxServer  # noqa: E402
from webhook_testing import SECRET, Receiver  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def latencies(path: Path) -> list[float]:
    out = []
    for line in path.read_text().splitlines():
        received, visible = map(float, line.split())
        out.append(visible - received)
    return out


def lost(pipe: Pipeline, sandbox: SandboxServer, status: dict) -> tuple[int, str]:
    truth = sandbox.truth()
    differences = sales_differences(expected_sales(truth), actual_sales(pipe)[0])
    tickets = len({ticket for ids in differences.values() for ticket in ids})
    attendance, expected = attendance_pair(pipe, truth)
    shows = sum(attendance.get(key) != value for key, value in expected.items())
    gave_up = status["stats"]["gave_up"] + status["stats"]["dropped"]
    detail = (f"tickets missing/different {tickets} of {len(truth['tickets'])}, show×zone attendance rows "
              f"different {shows}, deliveries given up {gave_up}")
    return tickets + shows + gave_up, detail


def one_run(project: Path, work: Path, args: argparse.Namespace, kill_after: float | None) -> None:
    work.mkdir(parents=True)
    with SandboxServer(seed=11, orders=args.orders, events=12, token=TOKEN) as sandbox:
        pipe = Pipeline(project, work, sandbox.base_url)
        first = pipe.cli("run")  # staging and the views the receiver loads into
        if first.returncode:
            raise SystemExit(f"the first run failed: {first.stderr[-2000:]}")
        log = work / "latency.log"
        receiver = Receiver(pipe, latency_log=log).start()
        try:
            # Real retry waits (1, 8, 27 s …) unless killed: then ÷10, so the bench does not wait minutes.
            sandbox.set_webhooks(receiver.hook_url, secret=SECRET, time_scale=10 if kill_after else 1)
            started = time.monotonic()
            sandbox.start_live(args.rate, args.seconds)
            if kill_after is not None:
                time.sleep(kill_after)
                receiver.kill()
                time.sleep(2)
                receiver.start()
            live = sandbox.wait_live(args.seconds * 3 + 30)
            status = sandbox.wait_webhooks(600)
            receiver.wait_drained(600)
            elapsed = time.monotonic() - started
        finally:
            receiver.stop()
        values = latencies(log)
        stats = status["stats"]
        failed = sum(1 for entry in sandbox.webhook_log() for attempt in entry["attempts"]
                     if attempt["status"] != 200)
        count, detail = lost(pipe, sandbox, status)
        batches = pipe.query("SELECT count(), round(avg(records_extracted['webhooks']), 1) "
                             "FROM zakaz.v_job_runs WHERE job_name = 'qtickets-webhooks'")[0]
    title = f"kill -9 after {kill_after:.0f} s, restarted 2 s later" if kill_after else "steady"
    print(f"\n== {title}: {live['changes']} changes in {live['elapsed_seconds']:.1f} s "
          f"({live['changes'] / max(live['elapsed_seconds'], 1e-9):.0f}/s), all loaded after {elapsed:.1f} s")
    print(f"webhooks: {stats['enqueued']} sent, {stats['attempts']} attempts ({failed} unanswered or not "
          f"200, retried), {stats['delivered']} delivered; {len(values)} payloads loaded in {batches[0]} "
          f"batches (~{batches[1]} each)")
    print(f"latency from receipt to v_sales_latest: p50 {statistics.median(values):.2f} s, "
          f"p95 {percentile(values, 0.95):.2f} s, max {max(values):.2f} s")
    print(f"lost: {count} ({detail})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--project", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        work = Path(tmp)
        project = args.project or install_project(work / "project")
        one_run(project, work / "steady", args, None)
        one_run(project, work / "killed", args, args.seconds / 3)


if __name__ == "__main__":
    main()
