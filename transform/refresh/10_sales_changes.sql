-- The work of one refresh (orchestrate/qtickets_pipeline/marts.py): the new mart_sales row of every ticket
-- that changed, and of every ticket of an event whose name, city or time zone changed (those columns are
-- copied into the rows). status '' marks a ticket that is no longer one of a paid order: it leaves the mart.
-- A ticket is (account, id): ids of different QTickets accounts may be equal.
--
-- Which rows changed: `since.sales` selects the staging rows written since the last refresh (a version above
-- its watermark `version.sales`, or an _sdc_batched_at after it; watermarks.py). Of a ticket's new rows the
-- newest by the source's own clock wins: its `src_version` (the later of the ticket's and its order's
-- updated_at), then the ticket's updated_at, then the order's (each only grows, so a later state is ahead in
-- one of the three), and only then the arrival order (_sdc_version). So a row that arrives late but shows an older state
-- (a webhook delivered again, out of order) never replaces a newer one, here nor in the mart (the filter at
-- the end). A ticket whose new rows all carry lower versions (written by something other than the target)
-- and the tickets of changed events (found in staging: a refresh that stopped after deleting their mart
-- rows must still find them) are read back in full. Rebuilding (`incremental` 0: every row counts as new),
-- every ticket takes its newest row of all.
INSERT INTO {{ database }}.mart_sales_changes
WITH
    base AS
    (
        SELECT account, id, order_id, event_id, show_id, zone_id, seat_id, price, original_price,
               discount_value, refunded_amount, payed, payed_at, refunded_at, checked_at, created_at, updated_at,
               order_updated_at, deleted_at, order_deleted_at, _sdc_version, _sdc_batched_at, _sdc_received_at,
               greatest(ifNull(updated_at, toDateTime64(0, 6, 'UTC')),
                        ifNull(order_updated_at, toDateTime64(0, 6, 'UTC'))) AS src_version
        FROM {{ staging.sales }}
    ),
    events AS
    (
        SELECT account, id, name, city_id, city_name, city_timezone,
               toNullable(coalesce(nullIf(city_timezone, ''), 'Europe/Moscow')) AS local_tz
        FROM {{ staging.events }} FINAL
    ),
    changed_events AS
    (
        SELECT account, id FROM events
        WHERE (account, id, name, city_id, city_name, city_timezone) NOT IN
              (SELECT account, event_id, name, city_id, city_name, city_timezone FROM {{ database }}.mart_events)
    ),
    since AS
    (
        SELECT account, id, max(_sdc_version) AS newest FROM base WHERE {{ since.sales }} GROUP BY account, id
    ),
    latest AS
    (
        (
            SELECT * FROM base
            WHERE ({{ since.sales }}) AND _sdc_version > {{ version.sales }}
            ORDER BY account, id, src_version DESC, updated_at DESC, order_updated_at DESC, _sdc_version DESC
            LIMIT 1 BY account, id
        )
        UNION ALL
        (
            SELECT * FROM base
            WHERE {{ incremental }}
              AND ((account, id) IN (SELECT account, id FROM since WHERE newest <= {{ version.sales }})
                   OR ((account, id) IN (SELECT account, id FROM base
                                         WHERE payed AND (account, event_id) IN changed_events)
                       AND (account, id) NOT IN (SELECT account, id FROM since
                                                 WHERE newest > {{ version.sales }})))
            ORDER BY account, id, src_version DESC, updated_at DESC, order_updated_at DESC, _sdc_version DESC
            LIMIT 1 BY account, id
        )
    ),
    current AS
    (
        SELECT * FROM {{ database }}.mart_sales WHERE (account, ticket_id) IN (SELECT account, id FROM latest)
    )
SELECT changed.* EXCEPT (src_version) FROM (
SELECT
    t.account                                                  AS account,
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
    ifNull(toDate(t.payed_at, '{{ report_tz }}'), toDate(0))      AS day,
    t.src_version                                              AS src_version
FROM latest AS t
LEFT JOIN events AS e ON e.account = t.account AND e.id = t.event_id
) AS changed
LEFT JOIN
(
    SELECT account, ticket_id,
           (greatest(ifNull(updated_at, toDateTime64(0, 6, 'UTC')), ifNull(order_updated_at, toDateTime64(0, 6, 'UTC'))),
            ifNull(updated_at, toDateTime64(0, 6, 'UTC')), ifNull(order_updated_at, toDateTime64(0, 6, 'UTC')))
                                                                                         AS mart_src_version
    FROM current
) AS m ON m.account = changed.account AND m.ticket_id = changed.ticket_id
-- Only what differs from the mart and is not older than it: a ticket sent again unchanged (every run re-reads
-- its look-back) is no change, nor is a ticket that never was in the mart and still is not a paid one, nor a
-- row older (by the source's clock) than the mart's. (Rebuilding: every row.)
WHERE NOT {{ incremental }}
   OR (m.mart_src_version <= (changed.src_version, ifNull(changed.updated_at, toDateTime64(0, 6, 'UTC')),
                              ifNull(changed.order_updated_at, toDateTime64(0, 6, 'UTC')))
       AND ((changed.status != '' AND (changed.account, changed.ticket_id, changed.order_id, changed.status,
                                       changed.price, changed.original_price, changed.discount_value,
                                       changed.refunded_amount, changed.event_id, changed.show_id,
                                       changed.zone_id, changed.seat_id, changed.city_id, changed.city,
                                       changed.city_timezone, changed.payed_at, changed.refunded_at,
                                       changed.checked_at, changed.created_at, changed.updated_at,
                                       changed.order_updated_at, changed.deleted_at, changed.order_deleted_at,
                                       changed.event_name, changed.day) NOT IN
              (SELECT account, ticket_id, order_id, status, price, original_price, discount_value,
                      refunded_amount, event_id, show_id, zone_id, seat_id, city_id, city, city_timezone,
                      payed_at, refunded_at, checked_at, created_at, updated_at, order_updated_at, deleted_at,
                      order_deleted_at, event_name, day
               FROM current))
            OR (changed.status = '' AND (changed.account, changed.ticket_id) IN
                                        (SELECT account, ticket_id FROM current))))
SETTINGS transform_null_in = 1;
