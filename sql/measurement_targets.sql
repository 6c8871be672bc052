-- measurement_targets.sql — where IDC keeps the SR series that go with some SEG series: those
-- of the same studies and the same analysis results (`fetch-segments --with-measurements`).
--
-- Returns: SeriesInstanceUID, aws_bucket, crdc_series_uuid, series_aws_url, one row per SR
--   series (SOP classes @sr_sop_class_uids).
--
-- Parameters: @series ARRAY<STRING> (SEG SeriesInstanceUIDs), @sr_sop_class_uids ARRAY<STRING>.
{% import "macros/idc.sql" as idc with context -%}
WITH
  seg_series AS (
    SELECT DISTINCT StudyInstanceUID, COALESCE(LOWER(analysis_result_id), '') AS analysis
    FROM {{ idc.table("dicom_all") }}
    WHERE SeriesInstanceUID IN UNNEST(@series)
  )
SELECT
  sr.SeriesInstanceUID,
  ANY_VALUE(sr.aws_bucket) AS aws_bucket,
  ANY_VALUE(sr.crdc_series_uuid) AS crdc_series_uuid,
  ANY_VALUE(sr.series_aws_url) AS series_aws_url
FROM {{ idc.table("dicom_all") }} AS sr
JOIN seg_series
  ON seg_series.StudyInstanceUID = sr.StudyInstanceUID
  AND seg_series.analysis = COALESCE(LOWER(sr.analysis_result_id), '')
WHERE sr.SOPClassUID IN UNNEST(@sr_sop_class_uids)
GROUP BY sr.SeriesInstanceUID
ORDER BY sr.SeriesInstanceUID
