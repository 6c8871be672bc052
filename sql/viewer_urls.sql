-- viewer_urls.sql — IDC viewer links for one study and, optionally, some of its series.
--
-- Returns one row for the study (SeriesInstanceUID NULL) when @series is empty, else one row
-- per requested series: StudyInstanceUID, SeriesInstanceUID, Modality, in_study (FALSE when the
--   series is not part of the study),
--   viewer ('slim' when the study holds slide microscopy, else 'ohif_v3'), viewer_url (that
--   viewer's link), ohif_v3_url, ohif_v2_url, slim_url (NULL unless the study holds
--   slide microscopy), segmented_SeriesInstanceUID, seg_viewer_url (a SEG opened over the image
--   series it segments, in OHIF v3 as IDC's segmentations.viewer_url since v24; NULL unless the
--   series is a SEG) and seg_ohif_v2_url (the same in OHIF v2, the form before v24; NULL unless
--   the series is a SEG whose source is known).
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
      ANY_VALUE(Modality) AS Modality,
      ANY_VALUE(SOPClassUID) AS SOPClassUID
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
      study_series.SeriesInstanceUID IS NOT NULL AS in_study,
      COALESCE(study_series.SOPClassUID IN ('1.2.840.10008.5.1.4.1.1.66.4', '1.2.840.10008.5.1.4.1.1.66.7'), FALSE) AS is_seg
    FROM UNNEST(@series) AS requested
    LEFT JOIN study_series ON study_series.SeriesInstanceUID = requested
{%- else %}
    SELECT
      CAST(NULL AS STRING) AS SeriesInstanceUID,
      CAST(NULL AS STRING) AS Modality,
      TRUE AS in_study,
      FALSE AS is_seg
{%- endif %}
  ),
  segmented AS (
{{- series_sql.seg_index("wanted", with_arrays=False, with_body_part=False) }}
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
  CASE WHEN wanted.is_seg THEN {{ viewer.ohif_v3("study.StudyInstanceUID", "wanted.SeriesInstanceUID") }} END AS seg_viewer_url,
  {{ viewer.seg_ohif_v2("study.StudyInstanceUID", "wanted.SeriesInstanceUID", "segmented.segmented_SeriesInstanceUID") }} AS seg_ohif_v2_url
FROM study
CROSS JOIN wanted
LEFT JOIN segmented ON segmented.SeriesInstanceUID = wanted.SeriesInstanceUID
ORDER BY wanted.SeriesInstanceUID
