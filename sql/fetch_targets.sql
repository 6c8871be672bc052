-- fetch_targets.sql — where IDC keeps the files of some series (for `idcseg fetch-segments`).
--
-- Returns: SeriesInstanceUID, aws_bucket, crdc_series_uuid, series_aws_url, one row per series.
--
-- Parameters: @series ARRAY<STRING> (SeriesInstanceUIDs).
{% import "macros/idc.sql" as idc with context -%}
SELECT
  SeriesInstanceUID,
  ANY_VALUE(aws_bucket) AS aws_bucket,
  ANY_VALUE(crdc_series_uuid) AS crdc_series_uuid,
  ANY_VALUE(series_aws_url) AS series_aws_url
FROM {{ idc.table("dicom_all") }}
-- a semi-join: `IN UNNEST(@series)` would search the whole list for each of ~1 M series
-- (11 s of CPU for the 6,949 series of LIDC-IDRI on the embedded engine)
WHERE SeriesInstanceUID IN (SELECT uid FROM UNNEST(@series) AS uid)
GROUP BY SeriesInstanceUID
ORDER BY SeriesInstanceUID
