"""Overlap protection: one pipeline run at a time per project, via an flock the kernel drops on exit."""

from __future__ import annotations

import fcntl
import os
import typing as t
from pathlib import Path


class RunLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "run.lock"
        self._handle: t.TextIO | None = None

    def acquire(self) -> bool:
        """True when this process now holds the lock; False when another run holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return True

    @property
    def fds(self) -> tuple[int, ...]:
        """The lock's file descriptor while held: a child given it holds the lock as long as it lives."""
        return (self._handle.fileno(),) if self._handle is not None else ()

    def holder_pid(self) -> str:
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def active_run(self) -> str | None:
        """The pid of another process's run holding the lock, or None. Probes (briefly takes the lock)
        only when the recorded holder is alive, so a scheduled run is almost never made to skip."""
        pid = self.holder_pid()
        if not pid.isdigit() or not Path(f"/proc/{pid}").exists():
            return None
        if self.acquire():
            self.release()
            return None
        return self.holder_pid()

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
