-- The shows the changed tickets are in before the refresh rewrites them: their attendance is recounted
-- too (a ticket moved to another show, or no longer sold, leaves its old show). Kept until the refresh
-- completes, so a refresh that stopped after rewriting the tickets still recounts the old shows.
INSERT INTO {{ database }}.mart_pending_shows
SELECT show_id
FROM {{ database }}.mart_sales
WHERE ticket_id IN (SELECT ticket_id FROM {{ database }}.mart_sales_changes);
