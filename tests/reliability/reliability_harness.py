"""Shared machinery of the reliability suite and bench/soak.py: the real `qtickets-pipeline` CLI against a
SandboxServer into embedded ClickHouse, plus the four checks every scenario ends with.

The project install, the Pipeline runner and the truth comparisons come from tests/support/
pipeline_testing.py, shared with the pipeline's own end-to-end suite, so both suites judge "exact truth" the
same way.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from pipeline_testing import (  # noqa: F401 - re-exported for the tests and bench/soak.py
    BIN,
    TOKEN,
    assert_inventory_exact,
    assert_sales_exact,
    install_project,
    runs,
    utc,
)
from pipeline_testing import Pipeline as BasePipeline

API_PREFIX = "/api/rest/v1"

job_runs = runs  # (status, rows_loaded, http_requests, error, trigger) per load, oldest first

FAST = {
    # Short network timeouts and no backoff, so a scenario's retries take seconds, not minutes.
    "TAP_QTICKETS_REQUEST_TIMEOUT": "2",
    "TAP_QTICKETS_RETRY_BACKOFF_SECONDS": "0",
    "TAP_QTICKETS_MAX_RETRIES": "3",
    "CLICKHOUSE_LOCK_WAIT_SECONDS": "2",  # a held embedded directory fails the run in seconds
    "LOG_LEVEL": "DEBUG",  # every Meltano/plugin line reaches LOG_FILE, which the token check reads
}
ERROR_LINE = re.compile(r"^\S+ \S+ ERROR +qtickets-pipeline: (.*)$")


class Pipeline(BasePipeline):
    """The pipeline suite's runner plus: fast retry settings, a LOG_FILE, background runs and the
    record of every output (for the token check)."""

    def __init__(self, project: Path, work: Path, base_url: str, **env: str) -> None:
        super().__init__(project, work, base_url)
        self.env.update(FAST)
        self.env["LOG_FILE"] = str(work / "pipeline.log")
        self.env.update(env)
        self.outputs: list[str] = []

    def cli(self, *args: str, **overrides: str) -> subprocess.CompletedProcess:
        result = super().cli(*args, **overrides)
        self.outputs += [result.stdout, result.stderr]
        return result

    def spawn(self, *args: str, **overrides: str) -> subprocess.Popen:
        """Start `qtickets-pipeline` in the background (output to files in the work dir)."""
        n = len(list(self.work.glob("spawn-*.out")))
        out = open(self.work / f"spawn-{n}.out", "w")  # noqa: SIM115 - closed by finish()
        proc = subprocess.Popen(
            [str(BIN / "qtickets-pipeline"), *args],
            env=dict(self.env, **overrides),
            cwd=self.work,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        proc.out_file = out  # type: ignore[attr-defined]
        return proc

    def finish(self, proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
        code = proc.wait(timeout=timeout)
        proc.out_file.close()  # type: ignore[attr-defined]
        text = Path(proc.out_file.name).read_text()  # type: ignore[attr-defined]
        self.outputs.append(text)
        return code, text



# ---------------------------------------------------------------------------------------- processes


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def descendant_running(root_pid: int, executable: str) -> int | None:
    """Pid of a descendant of `root_pid` whose command line runs `executable`."""
    tree, todo = _children(), [root_pid]
    while todo:
        pid = todo.pop()
        for child in tree.get(pid, []):
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(arg.endswith(executable.encode()) for arg in argv[:2]):
                return child
            todo.append(child)
    return None


def kill_when(proc: subprocess.Popen, executable: str, ready, timeout: float = 120) -> int:
    """SIGKILL the `executable` process under `proc` as soon as `ready()` is true; returns its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {executable} was killed")
        pid = descendant_running(proc.pid, executable)
        if pid and ready():
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.05)
    raise AssertionError(f"{executable} never became ready to kill")


def wait_for(condition, timeout: float = 120, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------- checks


def api_requests(sb, path: str = "") -> list[dict]:
    return [r for r in sb.requests() if r["path"].startswith(API_PREFIX + path)]


def assert_only_gets(sb) -> None:
    """(c) every request the pipeline made was a GET to the API."""
    log = sb.requests()
    assert log, "the sandbox saw no request at all"
    bad = [
        (r["method"], r["path"]) for r in log if r["method"] != "GET" or not r["path"].startswith(API_PREFIX)
    ]
    assert not bad, f"non-GET or non-API requests: {bad[:5]}"


def token_leaks(pipe: Pipeline, token: str = TOKEN) -> list[str]:
    """(d) where the token shows up: CLI output, LOG_FILE, Meltano's logs, the Meltano system database
    (state + job records), and any ClickHouse table (meta_job_runs included)."""
    found = [f"cli output #{i}" for i, text in enumerate(pipe.outputs) if token in text]
    files = [pipe.work / "meltano.db", *pipe.work.glob("*.log"), *pipe.work.glob("spawn-*.out")]
    for own in ("logs", "run"):  # the test's own Meltano directory (MELTANO_SYS_DIR_ROOT)
        files += [p for p in (pipe.work / "meltano" / own).rglob("*") if p.is_file()]
    needle = token.encode()
    found += [str(p) for p in files if p.is_file() and needle in p.read_bytes()]
    if (pipe.work / "ch").exists():
        with pipe.client() as client:
            tables = client.query(
                "SELECT name FROM system.tables WHERE database = 'zakaz' AND engine NOT LIKE '%View'"
            ).result_rows
            for (table,) in tables:
                hits = client.query(
                    f"SELECT count() FROM zakaz.`{table}` "
                    "WHERE position(toString(tuple(*)), {t:String}) > 0",
                    parameters={"t": token},
                ).result_rows[0][0]
                if hits:
                    found.append(f"clickhouse zakaz.{table} ({hits} rows)")
    return found


def assert_truth(pipe: Pipeline, sb) -> dict:
    """(b) v_sales_latest and the inventory view equal the sandbox truth exactly."""
    truth = sb.truth()
    assert_sales_exact(pipe, truth)
    assert_inventory_exact(pipe, truth)
    return truth


def failure_lines(output: str) -> list[str]:
    """The causes the CLI gave: its own ERROR lines (`run X failed: …`, or a refused argument)."""
    return [m.group(1) for line in output.splitlines() if (m := ERROR_LINE.match(line))]


def assert_failed_run(pipe: Pipeline, result_code: int, output: str, bookmark_before, *clues: str) -> str:
    """(a, failure branch) exit 1, one `run … failed: <cause>` line last, a `failed` meta_job_runs row whose
    error names the problem, and the bookmark where it was. Returns the recorded error."""
    assert result_code == 1, output[-3000:]
    said = failure_lines(output)
    assert len(said) == 1 and output.rstrip().endswith(said[0]), output[-3000:]
    assert said[0].startswith("run ") and " failed: " in said[0], said
    status, _loaded, _requests, error, _trigger = job_runs(pipe)[-1]
    assert status == "failed", (status, error)
    assert error.strip(), "failed row without an error message"
    assert any(c.lower() in error.lower() for c in clues), f"error does not name the problem {clues}: {error}"
    assert pipe.bookmark() == bookmark_before, "the bookmark moved although the run failed"
    return error


def finish_scenario(pipe: Pipeline, sb) -> dict:
    """(b)+(c)+(d) after the last (clean) run."""
    truth = assert_truth(pipe, sb)
    assert_only_gets(sb)
    assert token_leaks(pipe) == []
    return truth
