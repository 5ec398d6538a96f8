-- Smoke checks a human runs after a deploy (`qtickets-pipeline check` runs them all). Each query
-- returns one row: check name, ok (1/0), detail. Statements are separated by `;`.

SELECT 'objects exist' AS check, empty(missing) AS ok,
       if(empty(missing), concat('all ', toString(length(wanted))),
          concat('missing ', toString(length(missing)), ' of ', toString(length(wanted)), ': ',
                 arrayStringConcat(missing, ', '))) AS detail
FROM
(
    SELECT ['meta_job_runs', 'v_job_runs', 'dim_events', 'v_sales_latest', 'v_sales_14d', 'v_inventory_latest',
            'v_inventory_by_event', 'v_data_freshness', '{{ table.sales }}', 'v_attendance_by_show'] AS wanted,
           arrayFilter(name -> NOT has(present, name), wanted) AS missing
    FROM (SELECT groupArray(name) AS present FROM system.tables WHERE database = '{{ database }}')
);

SELECT 'no duplicate tickets in v_sales_latest' AS check, count() = uniqExact(account, ticket_id) AS ok,
       concat(toString(count()), ' rows, ', toString(uniqExact(account, ticket_id)), ' distinct tickets') AS detail
FROM {{ database }}.v_sales_latest;

SELECT 'statuses are sold/refunded/cancelled' AS check, countIf(status NOT IN ('sold', 'refunded', 'cancelled')) = 0 AS ok,
       concat(toString(countIf(status NOT IN ('sold', 'refunded', 'cancelled'))), ' rows with another status') AS detail
FROM {{ database }}.v_sales_latest;

SELECT 'successful run in the last 2 hours' AS check,
       countIf(status = 'success' AND finished_at > now64(3) - INTERVAL 2 HOUR) > 0 AS ok,
       ifNull(concat('last success: ', toString(maxIf(finished_at, status = 'success'))),
              'no successful load yet') AS detail
FROM {{ database }}.v_job_runs
WHERE job_name = '{{ job }}';

SELECT 'no crashed runs' AS check, countIf(effective_status = 'crashed') = 0 AS ok,
       concat(toString(countIf(effective_status = 'crashed')), ' runs stuck in running') AS detail
FROM {{ database }}.v_job_runs;

SELECT 'every stream has rows' AS check,
       length(arrayFilter(s -> NOT has(groupArrayIf(stream, raw_rows > 0), s), ['events', 'shows', 'orders', 'sales', 'inventory'])) = 0 AS ok,
       if(ok, 'events, shows, orders, sales, inventory',
          concat('empty: ', arrayStringConcat(arrayFilter(s -> NOT has(groupArrayIf(stream, raw_rows > 0), s),
                                              ['events', 'shows', 'orders', 'sales', 'inventory']), ', '))) AS detail
FROM {{ database }}.v_data_freshness;

SELECT 'no negative inventory' AS check,
       countIf(free < 0 OR sold < 0 OR held < 0 OR capacity < 0) = 0 AS ok,
       concat(toString(countIf(free < 0 OR sold < 0 OR held < 0 OR capacity < 0)), ' show×zone rows below zero') AS detail
FROM {{ database }}.v_inventory_latest;
