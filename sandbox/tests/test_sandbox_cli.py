"""The `qtickets-sandbox` console script as a user runs it."""

import hashlib
import hmac
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e

SCRIPT = Path(sys.executable).with_name("qtickets-sandbox")


def test_serve_prints_its_url_first_and_answers():
    proc = subprocess.Popen(
        [
            str(SCRIPT),
            "serve",
            "--port",
            "0",
            "--seed",
            "3",
            "--orders",
            "80",
            "--events",
            "4",
            "--token",
            "cli-token",
            "--start-date",
            "2025-11-03",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        m = re.fullmatch(r"qtickets-sandbox listening on (http://127\.0\.0\.1:\d+/api/rest/v1)", line)
        assert m, line
        r = requests.get(
            m.group(1) + "/orders",
            headers={"Authorization": "Bearer cli-token"},
            json={"per_page": 1},
            timeout=10,
        )
        assert r.status_code == 200 and r.json()["paging"]["total"] == 80
        assert requests.get(m.group(1) + "/orders", timeout=10).status_code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_sends_signed_webhooks_for_changes_after_start(receiver):
    proc = subprocess.Popen(
        [str(SCRIPT), "serve", "--orders", "80", "--events", "4", "--start-date", "2025-11-03",
         "--webhook-url", receiver.url, "--webhook-secret", "cli-secret", "--webhook-time-scale", "1000"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        root = proc.stdout.readline().strip().rsplit(" ", 1)[1].removesuffix("/api/rest/v1")
        control = root + "/_sandbox/webhooks"
        status = requests.get(control, timeout=10).json()
        assert status["url"] == receiver.url and status["time_scale"] == 1000 and status["secret_set"]
        assert status["stats"]["enqueued"] == 0  # the history is not sent
        requests.post(root + "/_sandbox/advance", json={"minutes": 3 * 24 * 60}, timeout=30)
        deadline = time.monotonic() + 30
        while (stats := requests.get(control, timeout=10).json()["stats"])["pending"]:
            assert time.monotonic() < deadline, stats
            time.sleep(0.05)
        assert stats["enqueued"] == stats["delivered"] == len(receiver.calls) > 0
        for headers, body in receiver.calls:
            assert headers["X-Signature"] == hmac.new(b"cli-secret", body, hashlib.sha1).hexdigest()
        assert "cli-secret" not in requests.get(control, timeout=10).text
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_demo_prints_what_it_serves():
    out = subprocess.run(
        [str(SCRIPT), "demo", "--orders", "60", "--events", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.startswith("qtickets-sandbox listening on http://127.0.0.1:")
    for needle in (
        "token: sandbox-token",
        "GET /shows/{id}/seats",
        "/orders: total 60",
        "sample paid order",
        "sample event",
        '"payed": true',
    ):
        assert needle in out, needle


def test_demo_is_deterministic_across_processes():
    def run(hash_seed: str) -> list[str]:
        out = subprocess.run(
            [
                str(SCRIPT),
                "demo",
                "--orders",
                "80",
                "--events",
                "3",
                "--seed",
                "9",
                "--start-date",
                "2025-05-05",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={"PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"},
        ).stdout
        return [line for line in out.splitlines() if "127.0.0.1" not in line]

    assert run("1") == run("2")


def test_bad_arguments_fail_with_a_clear_message():
    r = subprocess.run(
        [str(SCRIPT), "serve", "--start-date", "2025-13-01"], capture_output=True, text=True, timeout=30
    )
    assert r.returncode != 0 and "--start-date" in r.stderr and "2025-13-01" in r.stderr
    r = subprocess.run([str(SCRIPT), "serve", "--orders", "-5"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "--orders" in r.stderr
    r = subprocess.run([str(SCRIPT), "serve", "--webhook-url", "localhost:9000/hook"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0 and "--webhook" in r.stderr and "localhost:9000/hook" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
