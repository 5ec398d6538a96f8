-- Freshness per account × stream: when rows last arrived, the newest source change and how far behind now
-- it is, raw rows vs unique keys (the gap is versions not merged yet; the streams the marts read), plus the
-- account's last successful load and last load. `source_lag_s` is for the streams that change all day
-- (orders, sales: the newest order or ticket change; inventory: the newest snapshot); reference data
-- (events, shows, discounts, promo codes) may well not change for weeks, so its lag is NULL: `load_lag_s`
-- says whether it is being read. A source clock ahead of this one shows as 0, not as a negative lag.
-- Webhooks (orders, sales rows; NULL without any): `last_webhook_at`, when the receiver got the newest
-- payload it has loaded, and `webhook_lag_s`, how long the last batch took from receiving its oldest payload
-- to showing it in the views (the ledger rows of job `{{ webhook_job }}`).
CREATE OR REPLACE VIEW {{ database }}.v_data_freshness {{ on_cluster }} AS
WITH
    runs AS
    (
        SELECT
            account,
            maxIf(finished_at, status = 'success')      AS last_success_at,
            argMax(effective_status, started_at)        AS last_run_status,
            max(started_at)                             AS last_run_started_at,
            argMax(error, started_at)                   AS last_run_error
        FROM {{ database }}.v_job_runs
        WHERE job_name = '{{ job }}' AND status != 'skipped'
        GROUP BY account
    ),
    webhooks AS
    (
        SELECT
            account,
            max(window_end)                                                             AS last_webhook_at,
            argMax(dateDiff('millisecond', window_start, finished_at), finished_at) / 1000 AS webhook_lag_s
        FROM {{ database }}.v_job_runs
        WHERE job_name = '{{ webhook_job }}' AND status = 'success'
        GROUP BY account
    ),
    streams AS
    (
        SELECT account, 'events' AS stream, max(_sdc_batched_at) AS last_rows_loaded_at,
               max(updated_at) AS last_source_updated_at, false AS changes_all_day,
               toNullable(count()) AS raw_rows, toNullable(uniqExact(id)) AS unique_keys
        FROM {{ staging.events }} GROUP BY account
        UNION ALL
        SELECT account, 'shows', max(_sdc_batched_at), max(updated_at), false, count(), uniqExact(id)
        FROM {{ staging.shows }} GROUP BY account
        UNION ALL
        SELECT account, 'orders', max(_sdc_batched_at), max(updated_at), true, count(), uniqExact(id)
        FROM {{ staging.orders }} GROUP BY account
        UNION ALL
        SELECT account, 'sales', max(_sdc_batched_at), max(greatest(coalesce(order_updated_at, updated_at),
                                                                     coalesce(updated_at, order_updated_at))),
               true, count(), uniqExact(id)
        FROM {{ staging.sales }} GROUP BY account
        UNION ALL
        SELECT account, 'inventory', max(_sdc_batched_at), max(snapshot_at), true, count(),
               uniqExact(show_id, zone_id)
        FROM {{ staging.inventory }} GROUP BY account
        UNION ALL
        -- Every other stream (discounts, promo codes, …): what the ledger knows, the loads that brought rows.
        SELECT account, stream, max(finished_at), NULL, false, NULL, NULL
        FROM
        (
            SELECT account, arrayJoin(mapKeys(rows_loaded)) AS stream, finished_at, rows_loaded[stream] AS rows
            FROM {{ database }}.v_job_runs
            WHERE job_name = '{{ job }}' AND status = 'success'
        )
        WHERE rows > 0 AND stream NOT IN ('events', 'shows', 'orders', 'sales', 'inventory')
        GROUP BY account, stream
    )
SELECT
    s.account                                                       AS account,
    s.stream                                                        AS stream,
    r.last_success_at                                               AS last_success_at,
    s.last_rows_loaded_at                                           AS last_rows_loaded_at,
    s.last_source_updated_at                                        AS last_source_updated_at,
    if(s.changes_all_day, greatest(0, dateDiff('second', s.last_source_updated_at, now64(6))), NULL)
                                                                    AS source_lag_s,
    greatest(0, dateDiff('second', r.last_success_at, now64(3)))    AS load_lag_s,
    s.raw_rows                                                      AS raw_rows,
    s.unique_keys                                                   AS unique_keys,
    r.last_run_status                                               AS last_run_status,
    r.last_run_started_at                                           AS last_run_started_at,
    r.last_run_error                                                AS last_run_error,
    if(w.account != '' AND s.stream IN ('orders', 'sales'), w.last_webhook_at, NULL)  AS last_webhook_at,
    if(w.account != '' AND s.stream IN ('orders', 'sales'), w.webhook_lag_s, NULL)    AS webhook_lag_s
FROM streams AS s
LEFT JOIN runs AS r ON r.account = s.account
LEFT JOIN webhooks AS w ON w.account = s.account;
