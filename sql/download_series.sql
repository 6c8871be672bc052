-- download_series.sql — what a download needs to know about some series (SEGs, images, anything):
-- where IDC keeps their files, and the facts folder layouts, licences and citations are made of.
--
-- Returns: one row per series found, in SeriesInstanceUID order: SeriesInstanceUID,
--   collection_id, analysis_result_id, PatientID, StudyInstanceUID, Modality, SOPClassUID,
--   SeriesDescription, SeriesNumber, SeriesDate, StudyDate, StudyDescription, BodyPartExamined,
--   Manufacturer, license_short_name, source_DOI, aws_bucket, crdc_series_uuid (the folder of
--   the series' objects: s3://<aws_bucket>/<crdc_series_uuid>/), instanceCount, series_size_MB.
--
-- Parameters:
--   @series  ARRAY<STRING>  SeriesInstanceUIDs (any modality)
{% import "macros/idc.sql" as idc with context -%}
{% import "macros/download.sql" as download with context -%}
{% call idc.series_level(download.FACTS) %}SeriesInstanceUID IN (SELECT uid FROM UNNEST(@series) AS uid){% endcall %}
ORDER BY SeriesInstanceUID
