-- catalog.sql — the embedded engine's catalog (DuckDB dialect), run on every connection.
--
-- Gives IDC's BigQuery names to local data, so templates transpiled from BigQuery SQL resolve
-- unchanged: "bigquery-public-data".<schema>.<table> for each schema in `schemas`.
--   dicom_all        IDC's series index (idc-index-data's idc_index.parquet; series level,
--                    IDC's column names) plus series facts of locally stored SEGs
--   segmentations    segment rows the user ingested, synced or fetched (IDC's schema)
--   measurement_groups, quantitative_measurements, qualitative_measurements
--                    TID 1500 SR rows the user ingested, synced or fetched (IDC's schemas)
--   collections_index, analysis_results_index   the wheel's collection and analysis-result indexes
--   prior_versions_index   series of earlier IDC releases (the wheel's; empty when it has none)
--   local.main.idc_seg_index   IDC's seg_index.parquet once `idcseg index fetch` stored it, with
--                    the modality and body part of each segmented series (seg_index_rows.sql),
--                    else an empty table of the same shape
--   local.main.idc_seg_index_meanings   (kind, meaning): the distinct CodeMeanings of its
--                    arrays, kind 'category', 'type' or 'region'
--   local.main.series_index   dicom_all's rows with `index_row` (see below)
-- The parquet files are read through DuckDB-native copies of them (idcseg.prepared) when there
-- are copies: `series_db`, `seg_index_db`; else in place.
-- Paths are rendered as string literals by the `literal` filter; no user value enters here.

{% include "duckdb/attach_store.sql" %}
ATTACH ':memory:' AS "bigquery-public-data";
ATTACH ':memory:' AS local;
{% if series_db %}
ATTACH {{ series_db | literal }} AS idc_series (READ_ONLY);
{% endif %}
{% if seg_index_db %}
ATTACH {{ seg_index_db | literal }} AS idc_seg (READ_ONLY);
CREATE VIEW local.main.idc_seg_index AS
  SELECT * FROM idc_seg.main.seg_index;
CREATE VIEW local.main.idc_seg_index_meanings AS
  SELECT kind, meaning FROM idc_seg.main.meanings;
{% else %}
{% if seg_index_path %}
{%- set series_path = index_dir ~ "/idc_index.parquet" %}
CREATE VIEW local.main.idc_seg_index AS
{% include "duckdb/seg_index_rows.sql" %};
{% else %}
CREATE TABLE local.main.idc_seg_index (
  SeriesInstanceUID VARCHAR, SegmentationType VARCHAR, total_segments BIGINT,
  AlgorithmType VARCHAR, AlgorithmName VARCHAR, segmented_SeriesInstanceUID VARCHAR,
  SegmentedPropertyCategory_CodeMeanings VARCHAR[], SegmentedPropertyType_CodeMeanings VARCHAR[],
  AnatomicRegion_CodeMeanings VARCHAR[], segmented_Modality VARCHAR,
  segmented_BodyPartExamined VARCHAR
);
{% endif %}
CREATE VIEW local.main.idc_seg_index_meanings AS
  SELECT DISTINCT 'category' AS kind, meaning
  FROM local.main.idc_seg_index, UNNEST(SegmentedPropertyCategory_CodeMeanings) AS u(meaning)
  UNION
  SELECT DISTINCT 'type' AS kind, meaning
  FROM local.main.idc_seg_index, UNNEST(SegmentedPropertyType_CodeMeanings) AS u(meaning)
  UNION
  SELECT DISTINCT 'region' AS kind, meaning
  FROM local.main.idc_seg_index, UNNEST(AnatomicRegion_CodeMeanings) AS u(meaning);
{% endif %}
-- local.main.series_index: dicom_all's rows, each with `index_row`, a number that finds it
-- again cheaply: series_level() (macros/idc.sql) picks rows by a condition on a column or two
-- first, then reads its other columns of those rows only
CREATE VIEW local.main.series_index AS
{%- if series_db %}
  SELECT rowid AS index_row, * FROM idc_series.main.dicom_all
{%- else %}
  SELECT file_row_number AS index_row, * EXCLUDE (file_row_number)
  FROM read_parquet({{ (index_dir ~ "/idc_index.parquet") | literal }}, file_row_number = true)
{%- endif %}
  UNION ALL BY NAME
  SELECT -1 - rowid AS index_row, * FROM store.main.local_series;

{% for schema in schemas %}
CREATE SCHEMA "bigquery-public-data".{{ schema }};

CREATE VIEW "bigquery-public-data".{{ schema }}.dicom_all AS
{%- if series_db %}
  SELECT * FROM idc_series.main.dicom_all
{%- else %}
  SELECT * FROM read_parquet({{ (index_dir ~ "/idc_index.parquet") | literal }})
{%- endif %}
  UNION ALL BY NAME
  SELECT * FROM store.main.local_series;

CREATE VIEW "bigquery-public-data".{{ schema }}.segmentations AS
  SELECT * FROM store.main.segmentations;
{% for name in ("measurement_groups", "quantitative_measurements", "qualitative_measurements") %}
CREATE VIEW "bigquery-public-data".{{ schema }}.{{ name }} AS
  SELECT * FROM store.main.{{ name }};
{% endfor %}

{% for name in ("collections_index", "analysis_results_index", "prior_versions_index") if name ~ ".parquet" in index_files %}
CREATE VIEW "bigquery-public-data".{{ schema }}.{{ name }} AS
  SELECT * FROM read_parquet({{ (index_dir ~ "/" ~ name ~ ".parquet") | literal }});
{% endfor %}
{% if "prior_versions_index.parquet" not in index_files %}
CREATE VIEW "bigquery-public-data".{{ schema }}.prior_versions_index AS
  SELECT
    NULL::VARCHAR AS collection_id, NULL::VARCHAR AS PatientID,
    NULL::VARCHAR AS SeriesInstanceUID, NULL::VARCHAR AS StudyInstanceUID,
    NULL::VARCHAR AS Modality, NULL::VARCHAR AS gcs_bucket, NULL::VARCHAR AS crdc_series_uuid,
    NULL::DOUBLE AS series_size_MB, NULL::VARCHAR AS series_aws_url, NULL::VARCHAR AS aws_bucket,
    NULL::BIGINT AS min_idc_version, NULL::BIGINT AS max_idc_version
  WHERE FALSE;
{% endif %}
{% endfor %}
