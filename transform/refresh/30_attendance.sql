-- mart_attendance's next content (swapped in whole: one row per show × zone): the rows of untouched shows
-- as they are, and a recount of every touched show — the shows of changed tickets before and after the
-- change, and shows whose start or finish changed. It runs before mart_sales takes the changes, so it
-- counts the tickets as they will be: mart_sales without the changed tickets, plus their new rows
-- (mart_sales_changes). Run again after a stop, it counts the same. `incremental` is 0 when the marts are
-- rebuilt: then every show is recounted from the changes alone (they hold every ticket).
INSERT INTO {{ database }}.mart_attendance_next
WITH
    shows AS
    (
        SELECT account, id, start_date, finish_date FROM {{ staging.shows }} FINAL
    ),
    changed AS
    (
        SELECT account, ticket_id FROM {{ database }}.mart_sales_changes
    ),
    touched AS
    (
        SELECT account, show_id FROM {{ database }}.mart_sales WHERE (account, ticket_id) IN changed
        UNION ALL
        SELECT account, show_id FROM {{ database }}.mart_sales_changes
        UNION ALL
        SELECT a.account, a.show_id
        FROM {{ database }}.mart_attendance AS a
        LEFT JOIN shows AS s ON s.account = a.account AND s.id = a.show_id
        WHERE NOT (a.show_start_at <=> s.start_date AND a.show_finish_at <=> s.finish_date)
    ),
    tickets AS
    (
        SELECT account, show_id, zone_id, event_id, city_timezone, checked_at
        FROM {{ database }}.mart_sales
        WHERE {{ incremental }} AND status = 'sold' AND (account, show_id) IN touched
          AND (account, ticket_id) NOT IN changed
        UNION ALL
        SELECT account, show_id, zone_id, event_id, city_timezone, checked_at
        FROM {{ database }}.mart_sales_changes
        WHERE status = 'sold'
    )
SELECT *
FROM {{ database }}.mart_attendance
WHERE {{ incremental }} AND (account, show_id) NOT IN touched
UNION ALL
SELECT
    a.account                                                  AS account,
    a.show_id                                                  AS show_id,
    a.zone_id                                                  AS zone_id,
    a.event_id                                                 AS event_id,
    sh.start_date                                              AS show_start_at,
    sh.finish_date                                             AS show_finish_at,
    toDateTime64OrNull(formatDateTime(sh.start_date, '%F %T', a.local_tz), 0, 'UTC') AS show_start_at_local,
    a.tickets_sold                                             AS tickets_sold,
    a.checked_in                                               AS checked_in
FROM
(
    SELECT
        account,
        show_id,
        zone_id,
        any(event_id)                       AS event_id,
        coalesce(nullIf(any(city_timezone), ''), 'Europe/Moscow') AS local_tz,
        count()                             AS tickets_sold,
        countIf(checked_at IS NOT NULL)     AS checked_in
    FROM tickets
    WHERE NOT {{ incremental }} OR (account, show_id) IN touched
    GROUP BY account, show_id, zone_id
) AS a
LEFT JOIN shows AS sh ON sh.account = a.account AND sh.id = a.show_id
SETTINGS transform_null_in = 1;
