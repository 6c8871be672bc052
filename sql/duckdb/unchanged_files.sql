-- unchanged_files.sql — candidate files already ingested with the same size and mtime
-- (DuckDB dialect, on the store). Reads the registered Arrow table _candidates
-- (location, size_bytes, mtime).
SELECT c.location
FROM _candidates AS c
JOIN instances AS i
  ON i.origin = 'file'
  AND i.location = c.location
  AND i.size_bytes = c.size_bytes
  AND i.mtime = c.mtime
