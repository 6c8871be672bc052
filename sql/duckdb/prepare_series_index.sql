-- prepare_series_index.sql — a DuckDB-native copy of IDC's series index (DuckDB dialect).
--
-- Copies idc-index-data's idc_index.parquet, every row and column unchanged, into the table
-- `dicom_all` of a new database file. Native storage lets DuckDB scan it in parallel and skip
-- blocks by their min/max (the wheel's parquet is one row group of ~1 M rows, read by one
-- thread); rows are ordered so that SEG series, and slide-microscopy series, sit together.
-- Built once per wheel file by idcseg.prepared; `parquet_path` is rendered as a string literal.

{% include "duckdb/build_settings.sql" %}

CREATE TABLE dicom_all AS
  SELECT *
  FROM read_parquet({{ parquet_path | literal }})
  ORDER BY Modality, SOPClassUID, collection_id, StudyInstanceUID, SeriesInstanceUID;
