-- Job-run bookkeeping. One row per run, rewritten in place as the run progresses: the pipeline inserts
-- the row again with a later `updated_at`, and ReplacingMergeTree keeps the latest (read it with FINAL
-- or through v_job_runs). Status vocabulary: running | success | failed | skipped (skipped = another
-- run held the overlap lock). A run that died without finishing stays `running`; v_job_runs shows it
-- as `crashed`, and the next run on the same host closes it out as `failed`.
CREATE DATABASE IF NOT EXISTS {{ database }} {{ on_cluster }};

CREATE TABLE IF NOT EXISTS {{ database }}.meta_job_runs {{ on_cluster }}
(
    job_name           LowCardinality(String),
    run_id             String,
    trigger            LowCardinality(String),       -- cli | schedule | module | demo
    environment        LowCardinality(String),       -- Meltano environment (demo | prod)
    status             LowCardinality(String),       -- running | success | failed | skipped
    started_at         DateTime64(3, 'UTC'),
    finished_at        Nullable(DateTime64(3, 'UTC')),
    date_from          Nullable(Date32),
    date_to            Nullable(Date32),
    full_refresh       Bool,
    records_extracted  Map(String, UInt64),          -- per stream, from the tap's record_count metrics
    rows_loaded        Map(String, UInt64),          -- per stream, rows this run wrote to staging
    http_requests      Map(String, UInt64),          -- per stream, API pages requested
    rows_total         UInt64,
    error              String,                       -- short and secret-free; empty unless failed/skipped
    host               String,
    pid                UInt32,
    updated_at         DateTime64(6, 'UTC')
)
ENGINE = {{ engine.ReplacingMergeTree(updated_at) }}
ORDER BY (job_name, run_id);

-- Latest state of every run; `effective_status` turns runs stuck in `running` for more than 2 hours
-- (a 30-minute job never legitimately takes that long) into `crashed`.
CREATE OR REPLACE VIEW {{ database }}.v_job_runs {{ on_cluster }} AS
SELECT
    job_name,
    run_id,
    trigger,
    environment,
    status,
    if(status = 'running' AND started_at < now64(3) - INTERVAL 2 HOUR, 'crashed', status) AS effective_status,
    started_at,
    finished_at,
    dateDiff('millisecond', started_at, coalesce(finished_at, now64(3))) / 1000 AS duration_s,
    date_from,
    date_to,
    full_refresh,
    records_extracted,
    rows_loaded,
    http_requests,
    rows_total,
    error,
    host,
    pid
FROM {{ database }}.meta_job_runs FINAL;
