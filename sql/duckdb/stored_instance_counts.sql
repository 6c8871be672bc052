-- stored_instance_counts.sql — how many instances of each of $uids the store holds
-- (DuckDB dialect, on the engine's catalog connection). Parameters: $uids (VARCHAR[]).
SELECT SeriesInstanceUID, count(*) AS instances
FROM store.main.instances
WHERE SeriesInstanceUID IN (SELECT unnest($uids::VARCHAR[]))
GROUP BY SeriesInstanceUID
