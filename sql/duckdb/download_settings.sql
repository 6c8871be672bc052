-- download_settings.sql — settings for the index look-ups of a download (plan, sources,
-- licences): DuckDB caches what it reads of the series index up to its memory limit (80% of
-- RAM by default), so a look-up of a few hundred UIDs would hold ~85 MB while the files
-- arrive; 64 MB keeps a download's peak RSS under 200 MB at the same speed (bench/download.py).
-- Only for the DuckDB-native copy of the index: reading idc_index.parquet in place (when no
-- copy can be made) needs more, as its ~1 M rows are one row group.
SET memory_limit = '64MB';
