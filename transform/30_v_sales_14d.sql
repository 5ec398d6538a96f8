-- Daily sales for the last 14 days (today included) in the report time zone, per event × city.
-- Every ticket is attributed to the day it was paid; its current status decides the column it counts
-- in (sold → tickets_sold/revenue, refunded → refunds/refunded_amount, cancelled → cancelled).
-- Days are in the report zone REPORT_TZ ({{ report_tz }}; default Europe/Moscow).
CREATE OR REPLACE VIEW {{ database }}.v_sales_14d AS
SELECT
    toDate(s.payed_at, '{{ report_tz }}')                              AS day,
    s.event_id                                                       AS event_id,
    any(e.name)                                                      AS event_name,
    s.city                                                           AS city,
    countIf(s.status = 'sold')                                       AS tickets_sold,
    coalesce(sumIf(s.price, s.status = 'sold'), 0)                   AS revenue,
    countIf(s.status = 'refunded')                                   AS refunds,
    coalesce(sumIf(coalesce(s.refunded_amount, s.price), s.status = 'refunded'), 0) AS refunded_amount,
    countIf(s.status = 'cancelled')                                  AS cancelled
FROM {{ database }}.v_sales_latest AS s
LEFT JOIN {{ database }}.dim_events AS e ON e.event_id = s.event_id
WHERE s.payed_at IS NOT NULL
  AND toDate(s.payed_at, '{{ report_tz }}') >= toDate(now(), '{{ report_tz }}') - 13
GROUP BY day, event_id, city;
