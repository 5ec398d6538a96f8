-- Freshness per stream: when rows last arrived, the newest source change, the lag behind now, raw rows
-- vs unique keys (the gap is versions not merged yet), plus the last successful run and the last run.
CREATE OR REPLACE VIEW {{ database }}.v_data_freshness {{ on_cluster }} AS
WITH
    runs AS
    (
        SELECT
            maxIf(finished_at, status = 'success')      AS last_success_at,
            argMax(effective_status, started_at)        AS last_run_status,
            max(started_at)                             AS last_run_started_at,
            argMax(error, started_at)                   AS last_run_error
        FROM {{ database }}.v_job_runs
        WHERE job_name = '{{ job }}' AND status != 'skipped'
    ),
    streams AS
    (
        SELECT 'events' AS stream, max(_sdc_batched_at) AS last_rows_loaded_at,
               max(updated_at) AS last_source_updated_at, count() AS raw_rows, uniqExact(id) AS unique_keys
        FROM {{ staging.events }}
        UNION ALL
        SELECT 'shows', max(_sdc_batched_at), max(updated_at), count(), uniqExact(id)
        FROM {{ staging.shows }}
        UNION ALL
        SELECT 'orders', max(_sdc_batched_at), max(updated_at), count(), uniqExact(id)
        FROM {{ staging.orders }}
        UNION ALL
        SELECT 'sales', max(_sdc_batched_at), max(coalesce(order_updated_at, updated_at)), count(), uniqExact(id)
        FROM {{ staging.sales }}
        UNION ALL
        SELECT 'inventory', max(_sdc_batched_at), max(snapshot_at), count(), uniqExact(show_id, zone_id)
        FROM {{ staging.inventory }}
    )
SELECT
    s.stream                                                        AS stream,
    r.last_success_at                                               AS last_success_at,
    s.last_rows_loaded_at                                           AS last_rows_loaded_at,
    s.last_source_updated_at                                        AS last_source_updated_at,
    dateDiff('second', s.last_source_updated_at, now64(6))          AS source_lag_s,
    dateDiff('second', r.last_success_at, now64(3))                 AS load_lag_s,
    s.raw_rows                                                      AS raw_rows,
    s.unique_keys                                                   AS unique_keys,
    r.last_run_status                                               AS last_run_status,
    r.last_run_started_at                                           AS last_run_started_at,
    r.last_run_error                                                AS last_run_error
FROM streams AS s
CROSS JOIN runs AS r;
