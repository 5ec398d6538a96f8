-- mart_events' next content (swapped in whole): the latest version of each event (FINAL = dedup by key,
-- highest _sdc_version wins), with the first/last non-deleted show and the number of shows.
INSERT INTO {{ database }}.mart_events_next
SELECT
    e.account                  AS account,
    e.id                       AS event_id,
    e.name                     AS name,
    e.is_active                AS is_active,
    e.city_id                  AS city_id,
    e.city_name                AS city_name,
    e.city_timezone            AS city_timezone,
    e.place_name               AS place_name,
    sh.first_show_at           AS first_show_at,
    sh.last_show_at            AS last_show_at,
    sh.shows                   AS shows,
    toBool(e.deleted_at IS NOT NULL) AS is_deleted,
    e.deleted_at               AS deleted_at,
    e.created_at               AS created_at,
    e.updated_at               AS updated_at
FROM {{ staging.events }} AS e FINAL
LEFT JOIN
(
    SELECT
        account,
        event_id,
        min(start_date) AS first_show_at,
        max(start_date) AS last_show_at,
        count()         AS shows
    FROM {{ staging.shows }} FINAL
    WHERE deleted_at IS NULL
    GROUP BY account, event_id
) AS sh ON sh.account = e.account AND sh.event_id = e.id;
