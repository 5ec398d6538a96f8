"""The webhook receiver (`qtickets-pipeline webhooks serve`) as a real subprocess for tests and
bench/webhooks.py: started on port 0 in a Pipeline's isolated project (its own warehouse and state
directory), signed posts, waiting until everything received is in the views, kill -9."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipeline_testing import BIN, Pipeline

SECRET = "whsec-test-5b1e"
LISTENING = re.compile(r"listening on (http://\S+?)/qtickets/webhook ")


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


class Receiver:
    """One receiver process; `start()` again after `kill()` is a restart on the same spool and warehouse."""

    def __init__(self, pipe: Pipeline, secret: str = SECRET, latency_log: Path | None = None,
                 **env: str) -> None:
        self.pipe, self.secret, self.latency_log = pipe, secret, latency_log
        self.env = {**pipe.env, "QTICKETS_WEBHOOK_SECRET": secret, **env}
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.log_path = pipe.work / "receiver.log"
        self.port = 0

    def start(self, timeout: float = 60.0) -> Receiver:
        args = [str(BIN / "qtickets-pipeline"), "webhooks", "serve", "--port", str(self.port)]
        if self.latency_log is not None:
            args += ["--latency-log", str(self.latency_log)]
        start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, env=self.env, cwd=self.pipe.work, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_bytes()[start:].decode(errors="replace")
            found = LISTENING.search(text)
            if found:
                self.url = found.group(1)
                self.port = int(self.url.rsplit(":", 1)[1])  # a restart listens where QTickets posts
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"the receiver exited {self.process.returncode}: {text[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"the receiver did not start: {self.log()[-2000:]}")

    @property
    def hook_url(self) -> str:
        return f"{self.url}/qtickets/webhook"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def post(self, body: bytes, *, signature: str | None = "sign", event: str = "updated",
             path: str = "/qtickets/webhook") -> int:
        headers = {"Content-Type": "application/json", "X-Event-Type": event, "X-Model-Name": "Order"}
        if signature is not None:
            headers["X-Signature"] = sign(body, self.secret) if signature == "sign" else signature
        request = urllib.request.Request(self.url + path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/qtickets/webhook/health", timeout=10) as response:
            return json.loads(response.read())

    def wait_drained(self, timeout: float = 120.0) -> dict:
        """Until everything received is in the warehouse (the spool is empty)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.health()
            if state["spooled_bytes"] == 0:
                return state
            time.sleep(0.1)
        raise AssertionError(f"the spool did not drain in {timeout} s: {self.health()}; {self.log()[-2000:]}")

    def kill(self) -> None:
        """kill -9: no goodbye, whatever was in flight."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
