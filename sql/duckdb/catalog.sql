-- catalog.sql — the embedded engine's catalog (DuckDB dialect), run on every connection.
--
-- Gives IDC's BigQuery names to local data, so templates transpiled from BigQuery SQL resolve
-- unchanged: "bigquery-public-data".<schema>.<table> for each schema in `schemas`.
--   dicom_all        IDC's series index (idc-index-data's idc_index.parquet; series level,
--                    IDC's column names) plus series facts of locally stored SEGs
--   segmentations    segment rows the user ingested, synced or fetched (IDC's schema)
--   collections_index, analysis_results_index   the wheel's collection and analysis-result indexes
--   local.main.idc_seg_index   IDC's seg_index.parquet once `idcseg index fetch` stored it, else
--                    an empty table of the same shape
-- Paths are rendered as string literals by the `literal` filter; no user value enters here.

ATTACH {{ store_path | literal }} AS store (READ_ONLY);
ATTACH ':memory:' AS "bigquery-public-data";
ATTACH ':memory:' AS local;
{% if seg_index_path %}
CREATE VIEW local.main.idc_seg_index AS
  SELECT
    SeriesInstanceUID, SegmentationType, total_segments, AlgorithmType, AlgorithmName,
    segmented_SeriesInstanceUID, SegmentedPropertyCategory_CodeMeanings,
    SegmentedPropertyType_CodeMeanings, AnatomicRegion_CodeMeanings
  FROM read_parquet({{ seg_index_path | literal }});
{% else %}
CREATE TABLE local.main.idc_seg_index (
  SeriesInstanceUID VARCHAR, SegmentationType VARCHAR, total_segments BIGINT,
  AlgorithmType VARCHAR, AlgorithmName VARCHAR, segmented_SeriesInstanceUID VARCHAR,
  SegmentedPropertyCategory_CodeMeanings VARCHAR[], SegmentedPropertyType_CodeMeanings VARCHAR[],
  AnatomicRegion_CodeMeanings VARCHAR[]
);
{% endif %}
{% for schema in schemas %}
CREATE SCHEMA "bigquery-public-data".{{ schema }};

CREATE VIEW "bigquery-public-data".{{ schema }}.dicom_all AS
  SELECT * FROM read_parquet({{ (index_dir ~ "/idc_index.parquet") | literal }})
  UNION ALL BY NAME
  SELECT * FROM store.main.local_series;

CREATE VIEW "bigquery-public-data".{{ schema }}.segmentations AS
  SELECT * FROM store.main.segmentations;

CREATE VIEW "bigquery-public-data".{{ schema }}.collections_index AS
  SELECT * FROM read_parquet({{ (index_dir ~ "/collections_index.parquet") | literal }});

CREATE VIEW "bigquery-public-data".{{ schema }}.analysis_results_index AS
  SELECT * FROM read_parquet({{ (index_dir ~ "/analysis_results_index.parquet") | literal }});
{% endfor %}
