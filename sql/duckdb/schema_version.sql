-- schema_version.sql — the store's schema version (DuckDB dialect, on the store).
SELECT value FROM meta WHERE key = 'schema_version'
