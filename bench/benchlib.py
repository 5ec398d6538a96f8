"""Shared set-up of the pipeline benches: a throw-away copy of the Meltano project with its own embedded
ClickHouse directory and Meltano system database, and a timer."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from qtickets_pipeline.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"


def timed(fn, *args, **kwargs):
    started = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - started


def throwaway_project(work: Path) -> Settings:
    """A copy of the project under `work` (plugins and transforms linked), so a bench neither waits for nor
    blocks a pipeline run in the repository itself (they would share the overlap lock and state)."""
    project = work / "project"
    project.mkdir()
    shutil.copy(REPO / "meltano.yml", project / "meltano.yml")
    for name in ("tap-qtickets", "target-clickhouse", "orchestrate", "transform", "requirements.lock"):
        (project / name).symlink_to(REPO / name)
    os.environ.update(
        {
            "MELTANO_PROJECT_ROOT": str(project),
            "MELTANO_DATABASE_URI": f"sqlite:///{work / 'meltano.db'}",
            "CLICKHOUSE_URL": f"chdb://{work / 'ch'}",
            "QTICKETS_TOKEN": TOKEN,
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        }
    )
    return load_settings(environment="demo", project_root=project)
