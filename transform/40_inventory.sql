-- Seat inventory: the latest snapshot of every show × zone (shows deleted since are left out), and the
-- same summed per event. argMax over (snapshot_at, _sdc_version) picks the newest snapshot row.
CREATE OR REPLACE VIEW {{ database }}.v_inventory_latest AS
SELECT
    i.show_id                                              AS show_id,
    i.zone_id                                              AS zone_id,
    argMax(i.event_id, (i.snapshot_at, i._sdc_version))    AS event_id,
    max(i.snapshot_at)                                     AS snapshot_at,
    argMax(i.capacity, (i.snapshot_at, i._sdc_version))    AS capacity,
    argMax(i.free, (i.snapshot_at, i._sdc_version))        AS free,
    argMax(i.sold, (i.snapshot_at, i._sdc_version))        AS sold,
    argMax(i.held, (i.snapshot_at, i._sdc_version))        AS held,
    argMax(i.disabled, (i.snapshot_at, i._sdc_version))    AS disabled
FROM {{ staging.inventory }} AS i
WHERE i.show_id NOT IN (SELECT id FROM {{ staging.shows }} FINAL WHERE deleted_at IS NOT NULL)
GROUP BY i.show_id, i.zone_id;

CREATE OR REPLACE VIEW {{ database }}.v_inventory_by_event AS
SELECT
    event_id,
    uniqExact(show_id)  AS shows,
    sum(capacity)       AS capacity,
    sum(free)           AS free,
    sum(sold)           AS sold,
    sum(held)           AS held,
    sum(disabled)       AS disabled,
    min(snapshot_at)    AS oldest_snapshot_at,
    max(snapshot_at)    AS newest_snapshot_at
FROM {{ database }}.v_inventory_latest
GROUP BY event_id;
