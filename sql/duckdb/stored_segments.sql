-- stored_segments.sql — how many segment rows the local store holds (DuckDB dialect, on the
-- engine's catalog connection): `find` and `facets` say so when an empty store answers nothing.
SELECT count(*) AS segment_rows
FROM store.main.segmentations
