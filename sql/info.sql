-- info.sql — how much the engine can see: row counts of the tables idcseg reads.
--
-- Returns one row: series (all series in dicom_all), seg_series (both SEG SOP classes),
--   segment_rows (rows in segmentations), segmented_series (SEG series with segment rows).
-- Parameters: none.
{% import "macros/idc.sql" as idc with context -%}
SELECT
  (SELECT COUNT(DISTINCT SeriesInstanceUID) FROM {{ idc.table("dicom_all") }}) AS series,
  (
    SELECT COUNT(DISTINCT SeriesInstanceUID)
    FROM {{ idc.table("dicom_all") }}
    WHERE SOPClassUID IN ('1.2.840.10008.5.1.4.1.1.66.4', '1.2.840.10008.5.1.4.1.1.66.7')
  ) AS seg_series,
  (SELECT COUNT(*) FROM {{ idc.table("segmentations") }}) AS segment_rows,
  (SELECT COUNT(DISTINCT SeriesInstanceUID) FROM {{ idc.table("segmentations") }}) AS segmented_series
