"""Debian's Chromium for browser tests: installed with apt when missing, launched headless through
Playwright's Python package against that binary (Playwright never downloads a browser of its own here).

The flags keep Chromium off the network: this machine's closed network refuses the connections its
background services (updates, sync, field trials) would open, and a test page may load only file:// URLs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
APT_TIMEOUT = 900


class ChromiumUnavailable(RuntimeError):
    """Chromium is missing and apt could not install it (the message says why)."""


def _apt(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", *args], env=env, capture_output=True, text=True, timeout=APT_TIMEOUT)


def ensure_chromium() -> Path:
    """/usr/bin/chromium, installed with `apt-get install -y chromium` first when it is missing (after an
    `apt-get update` when the package lists are too old to find it)."""
    if CHROMIUM.exists():
        return CHROMIUM
    if shutil.which("apt-get") is None:
        raise ChromiumUnavailable(f"{CHROMIUM} is missing and there is no apt-get to install it")
    if os.geteuid() != 0:
        raise ChromiumUnavailable(f"{CHROMIUM} is missing: run `sudo apt-get install -y chromium`")
    result = _apt("install", "-y", "-q", "chromium")
    if result.returncode != 0:
        update = _apt("update", "-q")
        result = _apt("install", "-y", "-q", "chromium") if update.returncode == 0 else update
    if result.returncode != 0 or not CHROMIUM.exists():
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise ChromiumUnavailable(f"`apt-get install -y chromium` failed (exit {result.returncode}):\n{tail}")
    return CHROMIUM


@contextmanager
def browser_context(profile: Path) -> Iterator:
    """A headless Chromium (a Playwright BrowserContext) with a fresh profile directory `profile`."""
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(executable), headless=True, chromium_sandbox=False,
            args=FLAGS, offline=True,
        )
        try:
            yield context
        finally:
            context.close()
