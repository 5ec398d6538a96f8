-- One row per ticket (basket) of a paid order, latest version only (the highest _sdc_version wins, a late
-- older version never does). Every timestamp is UTC (DateTime64(6, 'UTC')); `*_local` columns are the event
-- city's wall clock. A thin read of mart_sales (transform/05_marts.sql), which the refresh after every load
-- brings up to date (transform/refresh/10_sales_changes.sql derives each row).
-- status: 'refunded' if refunded; else 'cancelled' if the ticket or its order is deleted; else 'sold'.
-- checked_at is the scan at the entrance: scans change only the ticket, which the tap's ticket pass reads.
CREATE OR REPLACE VIEW {{ database }}.v_sales_latest {{ on_cluster }} AS
SELECT
    account,
    ticket_id,
    order_id,
    status,
    price,
    original_price,
    discount_value,
    refunded_amount,
    event_id,
    show_id,
    zone_id,
    seat_id,
    city_id,
    city,
    city_timezone,
    payed_at,
    payed_at_local,
    payed_date_local,
    refunded_at,
    checked_at,
    created_at,
    updated_at,
    order_updated_at,
    deleted_at,
    order_deleted_at,
    _sdc_version
FROM {{ database }}.mart_sales;
