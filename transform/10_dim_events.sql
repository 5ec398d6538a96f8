-- Events directory: the latest version of each event, with its city and the first/last non-deleted show.
-- A thin read of mart_events (transform/05_marts.sql), which every refresh rebuilds from staging.
CREATE OR REPLACE VIEW {{ database }}.dim_events {{ on_cluster }} AS
SELECT
    account,
    event_id,
    name,
    is_active,
    city_id,
    city_name,
    city_timezone,
    place_name,
    first_show_at,
    last_show_at,
    shows,
    is_deleted,
    deleted_at,
    created_at,
    updated_at
FROM {{ database }}.mart_events;
