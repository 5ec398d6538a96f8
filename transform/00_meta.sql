-- The ledger `meta_job_runs` (one row per load: running, then success or failed with its cause) is written by
-- target-clickhouse itself, whoever starts the load (target_clickhouse/ledger.py); these views read it.
-- `meta_models` records which version of these model files the warehouse holds (a hash per part), so a
-- load applies the DDL only when it changed (orchestrate/qtickets_pipeline/transforms.py).
CREATE DATABASE IF NOT EXISTS {{ database }} {{ on_cluster }};

CREATE TABLE IF NOT EXISTS {{ database }}.meta_models {{ on_cluster }}
(
    name               LowCardinality(String),       -- ddl | marts
    checksum           String,
    applied_at         DateTime64(6, 'UTC')
)
ENGINE = {{ engine.ReplacingMergeTree(applied_at) }}
ORDER BY name;

-- Latest state of every load; `effective_status` turns loads stuck in `running` for more than 2 hours
-- (a 30-minute job never legitimately takes that long) into `crashed`.
CREATE OR REPLACE VIEW {{ database }}.v_job_runs {{ on_cluster }} AS
SELECT
    job_name,
    account,
    run_id,
    trigger,
    environment,
    status,
    if(status = 'running' AND started_at < now64(3) - INTERVAL 2 HOUR, 'crashed', status) AS effective_status,
    started_at,
    finished_at,
    dateDiff('millisecond', started_at, coalesce(finished_at, now64(3))) / 1000 AS duration_s,
    window_start,
    window_end,
    full_refresh,
    records_extracted,
    rows_loaded,
    http_requests,
    rows_total,
    error,
    host,
    pid
FROM {{ database }}.meta_job_runs FINAL;
