-- build_settings.sql — settings for making a copy (included by prepare_*.sql): DuckDB keeps to
-- 300 MB of memory and spills the rest to `spill_dir` (peak RSS ~0.4 GB for the series index).
SET memory_limit = '300MB';
SET temp_directory = {{ spill_dir | literal }};
