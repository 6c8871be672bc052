-- info.sql — how much the engine can see: row counts of the tables idcseg reads.
--
-- Returns one row: series (all series in dicom_all), seg_series (both SEG SOP classes),
--   segment_rows (segment rows, label maps included), segmented_series (SEG series with
--   segment rows), measurement_groups (TID 1500 measurement groups), measurements
--   (quantitative plus qualitative rows), measurements_without_segment (those whose segment
--   is among no segment rows, by SEG instance + segment number nor by tracking UID; NULL
--   counts where this IDC release has no measurement tables).
-- Parameters: none.
{% import "macros/idc.sql" as idc with context -%}
{% import "macros/segments.sql" as segments_sql with context -%}
{%- set measured = has("quantitative_measurements", "SOPInstanceUID") and has("qualitative_measurements", "SOPInstanceUID") %}
WITH
  segment_rows AS ({{ segments_sql.segment_rows() }}
  )
{%- if measured %},
  measurement_rows AS (
{%- for table in ("quantitative_measurements", "qualitative_measurements") %}
    SELECT
      segmentationInstanceUID,
      {% if repeated(table, "segmentationSegmentNumber") %}segmentationSegmentNumber[SAFE_OFFSET(0)]{% else %}segmentationSegmentNumber{% endif %} AS segmentationSegmentNumber,
      trackingUniqueIdentifier
    FROM {{ idc.table(table) }}
{%- if loop.first %}
    UNION ALL
{%- endif %}
{%- endfor %}
  )
{%- endif %}
SELECT
  (SELECT COUNT(DISTINCT SeriesInstanceUID) FROM {{ idc.table("dicom_all") }}) AS series,
  (
    SELECT COUNT(DISTINCT SeriesInstanceUID)
    FROM {{ idc.table("dicom_all") }}
    WHERE SOPClassUID IN ('1.2.840.10008.5.1.4.1.1.66.4', '1.2.840.10008.5.1.4.1.1.66.7')
  ) AS seg_series,
  (SELECT COUNT(*) FROM segment_rows) AS segment_rows,
  (SELECT COUNT(DISTINCT SeriesInstanceUID) FROM segment_rows) AS segmented_series,
{%- if measured %}
  (SELECT COUNT(*) FROM {{ idc.table("measurement_groups") }}) AS measurement_groups,
  (SELECT COUNT(*) FROM measurement_rows) AS measurements,
  (
    SELECT COUNT(*)
    FROM measurement_rows AS m
    WHERE NOT EXISTS (
        SELECT 1 FROM segment_rows AS s
        WHERE s.SOPInstanceUID = m.segmentationInstanceUID
          AND s.SegmentNumber = m.segmentationSegmentNumber)
      AND NOT EXISTS (
        SELECT 1 FROM segment_rows AS s WHERE s.TrackingUID = m.trackingUniqueIdentifier)
  ) AS measurements_without_segment
{%- else %}
  CAST(NULL AS INT64) AS measurement_groups,
  CAST(NULL AS INT64) AS measurements,
  CAST(NULL AS INT64) AS measurements_without_segment
{%- endif %}
