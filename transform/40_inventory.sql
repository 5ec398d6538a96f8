-- Seat inventory: the latest snapshot of every show × zone (shows deleted since are left out), and the
-- same summed per event. Thin reads of mart_inventory, where the refresh folds in every new snapshot
-- (argMax over (snapshot_at, _sdc_version) picks the newest snapshot row).
CREATE OR REPLACE VIEW {{ database }}.v_inventory_latest {{ on_cluster }} AS
SELECT
    account,
    show_id,
    zone_id,
    event_id,
    snapshot_at,
    capacity,
    free,
    sold,
    held,
    disabled
FROM {{ database }}.mart_inventory
WHERE NOT show_deleted;

CREATE OR REPLACE VIEW {{ database }}.v_inventory_by_event {{ on_cluster }} AS
SELECT
    account,
    event_id,
    uniqExact(show_id)  AS shows,
    sum(capacity)       AS capacity,
    sum(free)           AS free,
    sum(sold)           AS sold,
    sum(held)           AS held,
    sum(disabled)       AS disabled,
    min(snapshot_at)    AS oldest_snapshot_at,
    max(snapshot_at)    AS newest_snapshot_at
FROM {{ database }}.mart_inventory
WHERE NOT show_deleted
GROUP BY account, event_id;
