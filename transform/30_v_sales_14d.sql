-- Daily sales for the last 14 days (today included) in the report time zone, per event × city.
-- Every ticket is attributed to the day it was paid; its current status decides the column it counts
-- in (sold → tickets_sold/revenue, refunded → refunds/refunded_amount, cancelled → cancelled).
-- Days are in the report zone REPORT_TZ ({{ report_tz }}; default Europe/Moscow): mart_sales.day, which the
-- refresh computes in that zone (and recomputes for every ticket when REPORT_TZ changes).
CREATE OR REPLACE VIEW {{ database }}.v_sales_14d {{ on_cluster }} AS
SELECT
    account,
    day,
    event_id,
    any(event_name)                                                  AS event_name,
    city,
    countIf(status = 'sold')                                         AS tickets_sold,
    coalesce(sumIf(price, status = 'sold'), 0)                       AS revenue,
    countIf(status = 'refunded')                                     AS refunds,
    coalesce(sumIf(coalesce(refunded_amount, price), status = 'refunded'), 0) AS refunded_amount,
    countIf(status = 'cancelled')                                    AS cancelled
FROM {{ database }}.mart_sales
WHERE payed_at IS NOT NULL
  AND day >= toDate(now(), '{{ report_tz }}') - 13
GROUP BY account, day, event_id, city;
