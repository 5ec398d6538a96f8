-- Marts: the deduplicated tables the dashboard views read (plain MergeTree-family tables, no FINAL, no
-- join at read time), kept current after every load by the refresh (orchestrate/qtickets_pipeline/marts.py
-- running transform/refresh/*.sql): it reads only the staging rows written since the last refresh
-- (mart_watermarks) and writes only what changed: mart_sales replaces the rows of changed tickets
-- (lightweight DELETE, then INSERT); the small marts are rebuilt in their `*_next` scratch copies and
-- swapped in whole with REPLACE PARTITION (atomic). Every step can run again, so a refresh that stopped
-- halfway is completed by the next one, which starts again from the same watermarks.

-- Scratch tables of earlier releases, no longer used.
DROP TABLE IF EXISTS {{ database }}.mart_sales_next {{ on_cluster }};
DROP TABLE IF EXISTS {{ database }}.mart_pending_shows {{ on_cluster }};

-- One row per ticket of a paid order (a ticket is account × ticket_id), its latest version, with its event's
-- city and name (v_sales_latest, v_sales_14d). `day` is the day it was paid in REPORT_TZ (1970-01-01 if
-- never): ordered by (account, day, event) for the date-range and event filters of the dashboards, and
-- partitioned by year, not month: the refresh's DELETE marks every part it may touch, so its cost grows
-- with the number of partitions (docs/scaling.md: 6.3-7.9 s by month, 1.4-2.0 s by year at 10M tickets
-- over two years), while the ORDER BY already prunes date ranges.
CREATE TABLE IF NOT EXISTS {{ database }}.mart_sales {{ on_cluster }}
(
    account            LowCardinality(String),       -- the QTickets account (ids may repeat across)
    ticket_id          Int64,
    order_id           Nullable(Int64),
    status             LowCardinality(String),       -- sold | refunded | cancelled
    price              Nullable(Decimal(18, 2)),
    original_price     Nullable(Decimal(18, 2)),
    discount_value     Nullable(Decimal(18, 2)),
    refunded_amount    Nullable(Decimal(18, 2)),
    event_id           Nullable(Int64),
    show_id            Nullable(Int64),
    zone_id            LowCardinality(Nullable(String)),
    seat_id            Nullable(String),
    city_id            Nullable(Int64),
    city               LowCardinality(Nullable(String)),
    city_timezone      LowCardinality(Nullable(String)),
    payed_at           Nullable(DateTime64(6, 'UTC')),
    payed_at_local     Nullable(DateTime64(0, 'UTC')),
    payed_date_local   Nullable(Date),
    refunded_at        Nullable(DateTime64(6, 'UTC')),
    checked_at         Nullable(DateTime64(6, 'UTC')),
    created_at         Nullable(DateTime64(6, 'UTC')),
    updated_at         Nullable(DateTime64(6, 'UTC')),
    order_updated_at   Nullable(DateTime64(6, 'UTC')),
    deleted_at         Nullable(DateTime64(6, 'UTC')),
    order_deleted_at   Nullable(DateTime64(6, 'UTC')),
    _sdc_version       UInt64,
    event_name         LowCardinality(Nullable(String)),
    day                Date,
    INDEX payed_at_minmax payed_at TYPE minmax GRANULARITY 1,    -- date ranges on payed_at
    INDEX city_set city_id TYPE set(256) GRANULARITY 4,          -- one city
    INDEX show_minmax show_id TYPE minmax GRANULARITY 1,         -- one show (ids grow with time)
    INDEX ticket_minmax ticket_id TYPE minmax GRANULARITY 1      -- the refresh finding changed tickets
)
ENGINE = {{ engine.MergeTree }}
PARTITION BY toYear(day)
ORDER BY (account, day, event_id, ticket_id)
SETTINGS allow_nullable_key = 1;

-- The refresh's work: the new row of every ticket that changed (status '' = no longer a paid ticket).
CREATE TABLE IF NOT EXISTS {{ database }}.mart_sales_changes {{ on_cluster }} AS {{ database }}.mart_sales
ENGINE = {{ engine.MergeTree }}
ORDER BY (account, ticket_id);

-- Attendance per show × zone (v_attendance_by_show), recounted for the shows a refresh touched.
CREATE TABLE IF NOT EXISTS {{ database }}.mart_attendance {{ on_cluster }}
(
    account            LowCardinality(String),       -- the QTickets account (ids may repeat across)
    show_id            Nullable(Int64),
    zone_id            LowCardinality(Nullable(String)),
    event_id           Nullable(Int64),
    show_start_at      Nullable(DateTime64(6, 'UTC')),
    show_finish_at     Nullable(DateTime64(6, 'UTC')),
    show_start_at_local Nullable(DateTime64(0, 'UTC')),
    tickets_sold       UInt64,
    checked_in         UInt64
)
ENGINE = {{ engine.MergeTree }}
ORDER BY (account, show_id, zone_id)
SETTINGS allow_nullable_key = 1;

CREATE TABLE IF NOT EXISTS {{ database }}.mart_attendance_next {{ on_cluster }} AS {{ database }}.mart_attendance
ENGINE = {{ engine.MergeTree }}
ORDER BY (account, show_id, zone_id)
SETTINGS allow_nullable_key = 1;

-- The events directory (dim_events), rebuilt by every refresh (one row per event: small).
CREATE TABLE IF NOT EXISTS {{ database }}.mart_events {{ on_cluster }}
(
    account            LowCardinality(String),       -- the QTickets account (ids may repeat across)
    event_id           Int64,
    name               Nullable(String),
    is_active          Nullable(Int64),
    city_id            Nullable(Int64),
    city_name          Nullable(String),
    city_timezone      Nullable(String),
    place_name         Nullable(String),
    first_show_at      Nullable(DateTime64(6, 'UTC')),
    last_show_at       Nullable(DateTime64(6, 'UTC')),
    shows              UInt64,
    is_deleted         Bool,
    deleted_at         Nullable(DateTime64(6, 'UTC')),
    created_at         Nullable(DateTime64(6, 'UTC')),
    updated_at         Nullable(DateTime64(6, 'UTC'))
)
ENGINE = {{ engine.MergeTree }}
ORDER BY (account, event_id);

CREATE TABLE IF NOT EXISTS {{ database }}.mart_events_next {{ on_cluster }} AS {{ database }}.mart_events
ENGINE = {{ engine.MergeTree }}
ORDER BY (account, event_id);

-- The newest seat snapshot of every show × zone (v_inventory_latest, v_inventory_by_event), folded forward
-- from the new snapshots of each refresh. The `*_state` columns keep argMax over (snapshot_at,
-- _sdc_version) exactly as a GROUP BY over every snapshot would compute it (NULLs skipped).
CREATE TABLE IF NOT EXISTS {{ database }}.mart_inventory {{ on_cluster }}
(
    account            LowCardinality(String),       -- the QTickets account (ids may repeat across)
    show_id            Int64,
    zone_id            String,
    event_id           Nullable(Int64),
    snapshot_at        DateTime64(6, 'UTC'),
    capacity           Nullable(Int64),
    free               Nullable(Int64),
    sold               Nullable(Int64),
    held               Nullable(Int64),
    disabled           Nullable(Int64),
    show_deleted       Bool,                         -- the show is deleted: left out of the views
    event_id_state     AggregateFunction(argMax, Nullable(Int64), Tuple(DateTime64(6, 'UTC'), UInt64)),
    capacity_state     AggregateFunction(argMax, Nullable(Int64), Tuple(DateTime64(6, 'UTC'), UInt64)),
    free_state         AggregateFunction(argMax, Nullable(Int64), Tuple(DateTime64(6, 'UTC'), UInt64)),
    sold_state         AggregateFunction(argMax, Nullable(Int64), Tuple(DateTime64(6, 'UTC'), UInt64)),
    held_state         AggregateFunction(argMax, Nullable(Int64), Tuple(DateTime64(6, 'UTC'), UInt64)),
    disabled_state     AggregateFunction(argMax, Nullable(Int64), Tuple(DateTime64(6, 'UTC'), UInt64))
)
ENGINE = {{ engine.MergeTree }}
ORDER BY (account, event_id, show_id, zone_id)
SETTINGS allow_nullable_key = 1;

CREATE TABLE IF NOT EXISTS {{ database }}.mart_inventory_next {{ on_cluster }} AS {{ database }}.mart_inventory
ENGINE = {{ engine.MergeTree }}
ORDER BY (account, event_id, show_id, zone_id)
SETTINGS allow_nullable_key = 1;

-- How far the marts are: per staging table the highest _sdc_version and _sdc_batched_at already folded
-- in, and the REPORT_TZ `mart_sales.day` was computed in (a change rebuilds the marts).
CREATE TABLE IF NOT EXISTS {{ database }}.mart_watermarks {{ on_cluster }}
(
    name               LowCardinality(String),       -- a stream, or 'report_tz'
    max_version        UInt64,
    max_batched_at     Nullable(DateTime64(6, 'UTC')),
    value              String,
    updated_at         DateTime64(6, 'UTC')
)
ENGINE = {{ engine.ReplacingMergeTree(updated_at) }}
ORDER BY name;
