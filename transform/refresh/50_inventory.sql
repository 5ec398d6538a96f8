-- mart_inventory's next content (swapped in whole: one row per show × zone): its argMax states merged
-- with those of the snapshots written since the last refresh (`since.inventory`), so each column is
-- what argMax over (snapshot_at, _sdc_version) of every snapshot gives; plus whether the show is deleted
-- now. `incremental` is 0 when the marts are rebuilt: then only staging counts.
INSERT INTO {{ database }}.mart_inventory_next
    (account, show_id, zone_id, event_id, snapshot_at, capacity, free, sold, held, disabled, show_deleted,
     event_id_state, capacity_state, free_state, sold_state, held_state, disabled_state)
SELECT
    account,
    show_id,
    zone_id,
    finalizeAggregation(event_id_state),
    snapshot_at,
    finalizeAggregation(capacity_state),
    finalizeAggregation(free_state),
    finalizeAggregation(sold_state),
    finalizeAggregation(held_state),
    finalizeAggregation(disabled_state),
    (account, show_id) IN (SELECT account, id FROM {{ staging.shows }} FINAL WHERE deleted_at IS NOT NULL),
    event_id_state, capacity_state, free_state, sold_state, held_state, disabled_state
FROM
(
    SELECT
        account,
        show_id,
        zone_id,
        max(snapshot_at)                       AS snapshot_at,
        argMaxMergeState(event_id_state)       AS event_id_state,
        argMaxMergeState(capacity_state)       AS capacity_state,
        argMaxMergeState(free_state)           AS free_state,
        argMaxMergeState(sold_state)           AS sold_state,
        argMaxMergeState(held_state)           AS held_state,
        argMaxMergeState(disabled_state)       AS disabled_state
    FROM
    (
        SELECT account, show_id, zone_id, snapshot_at, event_id_state, capacity_state, free_state, sold_state,
               held_state, disabled_state
        FROM {{ database }}.mart_inventory
        WHERE {{ incremental }}
        UNION ALL
        SELECT
            account,
            show_id,
            zone_id,
            max(snapshot_at),
            argMaxState(event_id, (snapshot_at, _sdc_version)),
            argMaxState(capacity, (snapshot_at, _sdc_version)),
            argMaxState(free, (snapshot_at, _sdc_version)),
            argMaxState(sold, (snapshot_at, _sdc_version)),
            argMaxState(held, (snapshot_at, _sdc_version)),
            argMaxState(disabled, (snapshot_at, _sdc_version))
        FROM {{ staging.inventory }}
        WHERE {{ since.inventory }}
        GROUP BY account, show_id, zone_id
    )
    GROUP BY account, show_id, zone_id
);
