-- info.sql — how much the engine can see: row counts of the tables idcseg reads.
--
-- Returns one row: series (all series in dicom_all), seg_series (both SEG SOP classes),
--   segment_rows (segment rows, label maps included), segmented_series (SEG series with
--   segment rows).
-- Parameters: none.
{% import "macros/idc.sql" as idc with context -%}
{% import "macros/segments.sql" as segments_sql with context -%}
SELECT
  (SELECT COUNT(DISTINCT SeriesInstanceUID) FROM {{ idc.table("dicom_all") }}) AS series,
  (
    SELECT COUNT(DISTINCT SeriesInstanceUID)
    FROM {{ idc.table("dicom_all") }}
    WHERE SOPClassUID IN ('1.2.840.10008.5.1.4.1.1.66.4', '1.2.840.10008.5.1.4.1.1.66.7')
  ) AS seg_series,
  (SELECT COUNT(*) FROM ({{ segments_sql.segment_rows() }})) AS segment_rows,
  (SELECT COUNT(DISTINCT SeriesInstanceUID) FROM ({{ segments_sql.segment_rows() }})) AS segmented_series
