-- Attendance per show × zone: of the tickets sold (status 'sold': paid, not refunded, not cancelled), how
-- many were scanned at the entrance (checked_at set) and how many not. For a show still ahead every sold
-- ticket is "not checked in" yet; `show_finish_at` tells past shows (no-shows) from upcoming ones.
CREATE OR REPLACE VIEW {{ database }}.v_attendance_by_show AS
SELECT
    a.show_id                                                  AS show_id,
    a.zone_id                                                  AS zone_id,
    a.event_id                                                 AS event_id,
    sh.start_date                                              AS show_start_at,
    sh.finish_date                                             AS show_finish_at,
    toDateTime64(formatDateTime(sh.start_date, '%F %T', a.local_tz), 0, 'UTC') AS show_start_at_local,
    a.tickets_sold                                             AS tickets_sold,
    a.checked_in                                               AS checked_in,
    a.tickets_sold - a.checked_in                              AS not_checked_in,
    if(a.tickets_sold = 0, 0, a.checked_in / a.tickets_sold)   AS checked_in_share
FROM
(
    SELECT
        show_id,
        zone_id,
        any(event_id)                       AS event_id,
        coalesce(nullIf(any(city_timezone), ''), 'Europe/Moscow') AS local_tz,
        count()                             AS tickets_sold,
        countIf(checked_at IS NOT NULL)     AS checked_in
    FROM {{ database }}.v_sales_latest
    WHERE status = 'sold'
    GROUP BY show_id, zone_id
) AS a
LEFT JOIN
(
    SELECT id, start_date, finish_date FROM {{ staging.shows }} FINAL
) AS sh ON sh.id = a.show_id;
