-- stored_objects.sql — location and size of every instance stored from one origin
-- (DuckDB dialect, on the store). Parameters: $origin ('file', 'bucket' or 'bigquery').
SELECT location, size_bytes
FROM instances
WHERE origin = $origin
