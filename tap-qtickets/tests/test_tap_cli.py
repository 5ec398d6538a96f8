"""The real `tap-qtickets` CLI: standalone reuse with target-jsonl, and one clear message on fatal errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from qtickets_sandbox.testing import SandboxServer
from tapqt_helpers import TOKEN, sandbox_config

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
TOOLS_VENV = REPO / ".venv-tools" / "target-jsonl"
TARGET_JSONL = TOOLS_VENV / "bin" / "target-jsonl"


def target_jsonl() -> Path:
    """PyPI target-jsonl 0.1.4 in its own venv (singer-python pins clash with ours); cached across runs."""
    if not TARGET_JSONL.exists():
        uv = BIN / "uv"
        subprocess.run([str(uv), "venv", "-q", "-p", sys.executable, str(TOOLS_VENV)], check=True)
        subprocess.run([str(uv), "pip", "install", "-q", "-p", str(TOOLS_VENV / "bin" / "python"),
                        "target-jsonl==0.1.4"], check=True)
    return TARGET_JSONL


def run_cli(config: dict, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    config_file = tmp_path / "tap-config.json"
    config_file.write_text(json.dumps(config))
    return subprocess.run([str(BIN / "tap-qtickets"), "--config", str(config_file), *extra],
                          capture_output=True, text=True, timeout=300)


def test_tap_pipes_into_target_jsonl(tmp_path):
    target = target_jsonl()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (tmp_path / "target-config.json").write_text(json.dumps({"destination_path": str(out_dir),
                                                               "do_timestamp_file": False}))
    with SandboxServer(seed=41, orders=200, events=3, token=TOKEN) as sb:
        (tmp_path / "tap-config.json").write_text(json.dumps(sandbox_config(sb)))
        tap_cmd = f"'{BIN / 'tap-qtickets'}' --config '{tmp_path / 'tap-config.json'}'"
        target_cmd = f"'{target}' --config '{tmp_path / 'target-config.json'}'"
        pipeline = f"set -o pipefail; {tap_cmd} | {target_cmd} > '{tmp_path / 'state.json'}'"
        done = subprocess.run(["bash", "-c", pipeline], capture_output=True, text=True, timeout=300)
        truth = sb.truth()
    assert done.returncode == 0, done.stderr[-2000:]
    files = {p.stem: p for p in out_dir.glob("*.jsonl")}
    assert {"events", "shows", "orders", "sales", "inventory"} <= files.keys()
    assert "clients" not in files  # bare ids without include_pii: not selected by default
    orders = [json.loads(line) for line in files["orders"].read_text().splitlines()]
    sales = [json.loads(line) for line in files["sales"].read_text().splitlines()]
    assert len({o["id"] for o in orders}) == len(orders) == 200
    assert {s["id"] for s in sales if s["payed"]} == {t["ticket_id"] for t in truth["tickets"]}
    state = json.loads(done.stdout or (tmp_path / "state.json").read_text().splitlines()[-1])
    assert state["bookmarks"]["orders"]["replication_key_value"] == max(o["updated_at"] for o in orders)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({"api_token": "wrong-" + TOKEN}, "api_token setting is wrong", id="403-bad-token"),
        pytest.param({"base_url": "{root}/api/rest/v2"}, "check the base_url setting", id="html-404"),
        pytest.param({"max_retries": 1, "faults": True}, "giving up after 2 attempts",
                     id="retries-exhausted"),
    ],
)
def test_fatal_errors_end_with_one_clear_message(tmp_path, overrides, expected):
    with SandboxServer(seed=42, orders=50, events=2, token=TOKEN) as sb:
        if overrides.pop("faults", False):
            sb.set_faults([{"match": "/api/rest/v1/", "fault": "status", "status": 503}])
        config = sandbox_config(sb, **{k: v.format(root=sb.root_url) if isinstance(v, str) else v
                                      for k, v in overrides.items()})
        done = run_cli(config, tmp_path)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "tap-qtickets failed:" in line]
    assert len(errors) == 1 and expected in errors[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert TOKEN not in done.stderr + done.stdout


def test_readme_holds_the_about_settings_table():
    about = subprocess.run([str(BIN / "tap-qtickets"), "--about", "--format=markdown"], capture_output=True,
                           text=True, timeout=60, check=True).stdout
    table = about[about.index("## Settings"):].strip()
    assert "| api_token | True |" in table
    assert table in (REPO / "tap-qtickets" / "README.md").read_text()
