-- viewer_urls.sql — IDC viewer links for one study and, optionally, some of its series.
--
-- Returns one row for the study (SeriesInstanceUID NULL) when @series is empty, else one row
-- per requested series: StudyInstanceUID, SeriesInstanceUID, Modality, in_study (FALSE when the
--   series is not part of the study),
--   viewer ('slim' when the study holds slide microscopy, else 'ohif_v3'), viewer_url (that
--   viewer's link), ohif_v3_url, ohif_v2_url, slim_url (NULL unless the study holds
--   slide microscopy), segmented_SeriesInstanceUID and seg_viewer_url (a SEG opened together with
--   the image series it segments, OHIF v2; NULL unless the series is a SEG whose source is known).
--
-- Parameters: @study STRING, @series ARRAY<STRING> (may be empty).
{% import "macros/idc.sql" as idc with context -%}
{% import "macros/viewer.sql" as viewer with context -%}
{% import "macros/series.sql" as series_sql with context -%}
{% set series_col = "wanted.SeriesInstanceUID" if has_series else None -%}
WITH
  study_series AS (
    SELECT
      StudyInstanceUID,
      SeriesInstanceUID,
      ANY_VALUE(Modality) AS Modality
    FROM {{ idc.table("dicom_all") }}
    WHERE StudyInstanceUID = @study
      AND crdc_series_uuid IS NOT NULL  -- hosted by IDC: only those open in its viewers
    GROUP BY StudyInstanceUID, SeriesInstanceUID
  ),
  study AS (
    SELECT
      StudyInstanceUID,
      LOGICAL_OR(Modality = 'SM') AS has_sm
    FROM study_series
    GROUP BY StudyInstanceUID
  ),
  wanted AS (
{%- if has_series %}
    SELECT
      requested AS SeriesInstanceUID,
      study_series.Modality,
      study_series.SeriesInstanceUID IS NOT NULL AS in_study
    FROM UNNEST(@series) AS requested
    LEFT JOIN study_series ON study_series.SeriesInstanceUID = requested
{%- else %}
    SELECT
      CAST(NULL AS STRING) AS SeriesInstanceUID,
      CAST(NULL AS STRING) AS Modality,
      TRUE AS in_study
{%- endif %}
  ),
  segmented AS (
{{- series_sql.seg_index("wanted") }}
  )
SELECT
  study.StudyInstanceUID,
  wanted.SeriesInstanceUID,
  wanted.Modality,
  wanted.in_study,
  CASE WHEN study.has_sm THEN 'slim' ELSE 'ohif_v3' END AS viewer,
  {{ viewer.default("study.StudyInstanceUID", series_col, "study.has_sm") }} AS viewer_url,
  {{ viewer.ohif_v3("study.StudyInstanceUID", series_col) }} AS ohif_v3_url,
  {{ viewer.ohif_v2("study.StudyInstanceUID", series_col) }} AS ohif_v2_url,
  CASE WHEN study.has_sm THEN {{ viewer.slim("study.StudyInstanceUID", series_col) }} END AS slim_url,
  segmented.segmented_SeriesInstanceUID,
  {{ viewer.seg_with_source("study.StudyInstanceUID", "wanted.SeriesInstanceUID", "segmented.segmented_SeriesInstanceUID") }} AS seg_viewer_url
FROM study
CROSS JOIN wanted
LEFT JOIN segmented ON segmented.SeriesInstanceUID = wanted.SeriesInstanceUID
ORDER BY wanted.SeriesInstanceUID
