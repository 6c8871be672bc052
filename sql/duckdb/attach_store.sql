-- attach_store.sql — attach the local store read-only as `store` (DuckDB dialect).
-- Run by catalog.sql, and again when an engine that released the store between queries (so
-- that another process could write it) runs its next query. Context: store_path (a literal).
ATTACH {{ store_path | literal }} AS store (READ_ONLY);
