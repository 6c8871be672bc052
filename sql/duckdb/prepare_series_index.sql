-- prepare_series_index.sql — a DuckDB-native copy of IDC's series index (DuckDB dialect).
--
-- Copies idc-index-data's idc_index.parquet, every row and column unchanged and in the file's
-- order, into the table `dicom_all` of a new database file. Native storage lets DuckDB scan it
-- in parallel and skip blocks by their min/max (the wheel's parquet is one row group of ~1 M
-- rows, read by one thread). The rows are not sorted: sorting them (by Modality, SOPClassUID,
-- collection, study, series) doubled the time to make the copy (~9 s → ~4.3 s of CPU on the
-- 2-core build machine) and made no query measurably faster (bench/first_hour.py).
-- Built once per wheel file by idcseg.local.prepared; `parquet_path` is rendered as a literal.

{% include "duckdb/build_settings.sql" %}

CREATE TABLE dicom_all AS
  SELECT *
  FROM read_parquet({{ parquet_path | literal }});
