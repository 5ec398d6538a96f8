"""QTickets → ClickHouse pipeline: runs the Meltano job, keeps meta_job_runs, applies transform/*.sql."""

from .pipeline import PipelineFailed, load, run_pipeline

__all__ = ["PipelineFailed", "load", "run_pipeline"]
