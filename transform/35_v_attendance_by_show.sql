-- Attendance per show × zone: of the tickets sold (status 'sold': paid, not refunded, not cancelled), how
-- many were scanned at the entrance (checked_at set) and how many not. For a show still ahead every sold
-- ticket is "not checked in" yet; `show_finish_at` tells past shows (no-shows) from upcoming ones.
-- A thin read of mart_attendance, which the refresh recounts for every show its load touched.
CREATE OR REPLACE VIEW {{ database }}.v_attendance_by_show {{ on_cluster }} AS
SELECT
    account,
    show_id,
    zone_id,
    event_id,
    show_start_at,
    show_finish_at,
    show_start_at_local,
    tickets_sold,
    checked_in,
    tickets_sold - checked_in                                AS not_checked_in,
    if(tickets_sold = 0, 0, checked_in / tickets_sold)       AS checked_in_share
FROM {{ database }}.mart_attendance;
