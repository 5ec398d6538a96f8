-- The work of one refresh (orchestrate/qtickets_pipeline/marts.py): the new mart_sales row of every ticket
-- that changed, and of every ticket of an event whose name, city or time zone changed (those columns are
-- copied into the rows). status '' marks a ticket that is no longer one of a paid order: it leaves the mart.
--
-- Which rows changed: `since.sales` selects the staging rows written since the last refresh (a version above
-- its watermark `version.sales`, or an _sdc_batched_at after it; watermarks.py). A ticket with a version above the watermark takes
-- its newest such row: the target's versions only grow, so every older row has a lower one, and a late
-- older version never wins. A ticket whose new rows all carry lower versions (written by something other
-- than the target) and the tickets of changed events (found in staging: a refresh that stopped after
-- deleting their mart rows must still find them) are read back in full, newest version first.
-- Rebuilding (`incremental` 0: every row counts as new), every ticket takes its newest row of all.
INSERT INTO {{ database }}.mart_sales_changes
WITH
    base AS
    (
        SELECT id, order_id, event_id, show_id, zone_id, seat_id, price, original_price, discount_value,
               refunded_amount, payed, payed_at, refunded_at, checked_at, created_at, updated_at,
               order_updated_at, deleted_at, order_deleted_at, _sdc_version, _sdc_batched_at, _sdc_received_at
        FROM {{ staging.sales }}
    ),
    events AS
    (
        SELECT id, name, city_id, city_name, city_timezone,
               toNullable(coalesce(nullIf(city_timezone, ''), 'Europe/Moscow')) AS local_tz
        FROM {{ staging.events }} FINAL
    ),
    changed_events AS
    (
        SELECT id FROM events
        WHERE (id, name, city_id, city_name, city_timezone) NOT IN
              (SELECT event_id, name, city_id, city_name, city_timezone FROM {{ database }}.mart_events)
    ),
    since AS
    (
        SELECT id, max(_sdc_version) AS newest FROM base WHERE {{ since.sales }} GROUP BY id
    ),
    latest AS
    (
        (
            SELECT * FROM base
            WHERE ({{ since.sales }}) AND _sdc_version > {{ version.sales }}
            ORDER BY id, _sdc_version DESC
            LIMIT 1 BY id
        )
        UNION ALL
        (
            SELECT * FROM base
            WHERE {{ incremental }}
              AND (id IN (SELECT id FROM since WHERE newest <= {{ version.sales }})
                   OR (id IN (SELECT id FROM base WHERE payed AND event_id IN changed_events)
                       AND id NOT IN (SELECT id FROM since WHERE newest > {{ version.sales }})))
            ORDER BY id, _sdc_version DESC
            LIMIT 1 BY id
        )
    )
SELECT * FROM (
SELECT
    t.id                                                       AS ticket_id,
    t.order_id                                                 AS order_id,
    multiIf(
        NOT ifNull(t.payed, false), '',
        t.refunded_at IS NOT NULL, 'refunded',
        t.deleted_at IS NOT NULL OR t.order_deleted_at IS NOT NULL, 'cancelled',
        'sold')                                                AS status,
    t.price                                                    AS price,
    t.original_price                                           AS original_price,
    t.discount_value                                           AS discount_value,
    t.refunded_amount                                          AS refunded_amount,
    t.event_id                                                 AS event_id,
    t.show_id                                                  AS show_id,
    t.zone_id                                                  AS zone_id,
    t.seat_id                                                  AS seat_id,
    e.city_id                                                  AS city_id,
    e.city_name                                                AS city,
    e.city_timezone                                            AS city_timezone,
    t.payed_at                                                 AS payed_at,
    -- The event city's wall clock (the API's stamps are Moscow time, the columns above UTC): a zone-less
    -- local time, written as if it were UTC, so a dashboard shows it as it is; and the local day. An
    -- event without a zone (or not loaded yet) counts in the API's own zone, Moscow. (…OrNull: a ticket
    -- never paid has no payed_at.)
    toDateTime64OrNull(formatDateTime(t.payed_at, '%F %T', coalesce(e.local_tz, 'Europe/Moscow')), 0, 'UTC')
                                                               AS payed_at_local,
    toDateOrNull(formatDateTime(t.payed_at, '%F', coalesce(e.local_tz, 'Europe/Moscow'))) AS payed_date_local,
    t.refunded_at                                              AS refunded_at,
    t.checked_at                                               AS checked_at,
    t.created_at                                               AS created_at,
    t.updated_at                                               AS updated_at,
    t.order_updated_at                                         AS order_updated_at,
    t.deleted_at                                               AS deleted_at,
    t.order_deleted_at                                         AS order_deleted_at,
    t._sdc_version                                             AS _sdc_version,
    e.name                                                     AS event_name,
    ifNull(toDate(t.payed_at, '{{ report_tz }}'), toDate(0))      AS day
FROM latest AS t
LEFT JOIN events AS e ON e.id = t.event_id
) AS changed
-- Only what differs from the mart: a ticket sent again unchanged (every run re-reads its look-back) is no
-- change, nor is a ticket that never was in the mart and still is not a paid one. (Rebuilding: every row.)
WHERE NOT {{ incremental }}
   OR (status != '' AND (ticket_id, order_id, status, price, original_price, discount_value, refunded_amount, event_id,
                          show_id, zone_id, seat_id, city_id, city, city_timezone, payed_at, refunded_at,
                          checked_at, created_at, updated_at, order_updated_at, deleted_at, order_deleted_at,
                          event_name, day) NOT IN
      (SELECT ticket_id, order_id, status, price, original_price, discount_value, refunded_amount, event_id, show_id,
              zone_id, seat_id, city_id, city, city_timezone, payed_at, refunded_at, checked_at, created_at,
              updated_at, order_updated_at, deleted_at, order_deleted_at, event_name, day
       FROM {{ database }}.mart_sales WHERE ticket_id IN (SELECT id FROM latest)))
   OR (status = '' AND ticket_id IN (SELECT ticket_id FROM {{ database }}.mart_sales))
SETTINGS transform_null_in = 1;
