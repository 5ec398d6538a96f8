-- One row per ticket (basket) of a paid order, latest version only. Every timestamp is UTC
-- (DateTime64(6, 'UTC')); `*_local` columns are the event city's wall clock. FINAL deduplicates by the
-- key with the highest _sdc_version at query time, so correctness never depends on background merges.
-- status: 'refunded' if refunded; else 'cancelled' if the ticket or its order is deleted; else 'sold'.
-- checked_at is the scan at the entrance: scans change only the ticket, which the tap's ticket pass reads.
CREATE OR REPLACE VIEW {{ database }}.v_sales_latest AS
SELECT
    s.id                 AS ticket_id,
    s.order_id           AS order_id,
    multiIf(
        s.refunded_at IS NOT NULL, 'refunded',
        s.deleted_at IS NOT NULL OR s.order_deleted_at IS NOT NULL, 'cancelled',
        'sold')          AS status,
    s.price              AS price,
    s.original_price     AS original_price,
    s.discount_value     AS discount_value,
    s.refunded_amount    AS refunded_amount,
    s.event_id           AS event_id,
    s.show_id            AS show_id,
    s.zone_id            AS zone_id,
    s.seat_id            AS seat_id,
    e.city_id            AS city_id,
    e.city_name          AS city,
    e.city_timezone      AS city_timezone,
    s.payed_at           AS payed_at,
    -- The event city's wall clock (the API's stamps are Moscow time, the columns above UTC): a zone-less
    -- local time, written as if it were UTC, so a dashboard shows it as it is; and the local day.
    toDateTime64(formatDateTime(s.payed_at, '%F %T', e.local_tz), 0, 'UTC') AS payed_at_local,
    toDate(formatDateTime(s.payed_at, '%F', e.local_tz)) AS payed_date_local,
    s.refunded_at        AS refunded_at,
    s.checked_at         AS checked_at,
    s.created_at         AS created_at,
    s.updated_at         AS updated_at,
    s.order_updated_at   AS order_updated_at,
    s.deleted_at         AS deleted_at,
    s.order_deleted_at   AS order_deleted_at,
    s._sdc_version       AS _sdc_version
FROM {{ staging.sales }} AS s FINAL
LEFT JOIN
(
    -- local_tz: the city's zone, or the API's own (Moscow) when an event has none (formatDateTime needs one)
    SELECT id, city_id, city_name, city_timezone, coalesce(nullIf(city_timezone, ''), 'Europe/Moscow') AS local_tz
    FROM {{ staging.events }} FINAL
) AS e ON e.id = s.event_id
WHERE s.payed = true;
