"""QTickets → ClickHouse pipeline: `qtickets-pipeline run` (one `meltano run` of tap-qtickets into
target-clickhouse, whose after-load step is `after_load.refresh_warehouse`), and the module API `load()`."""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from .pipeline import PipelineFailed, load, run_pipeline

__all__ = ["PipelineFailed", "load", "run_pipeline"]


def __getattr__(name: str) -> t.Any:
    # Lazy: the target's process imports `qtickets_pipeline.after_load` only, not the CLI's modules.
    if name in __all__:
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
