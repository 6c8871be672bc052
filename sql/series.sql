-- series.sql — DICOM Segmentation series in IDC, one row per SEG series.
--
-- Returns: collection_id, analysis_result_id, PatientID, StudyInstanceUID, SeriesInstanceUID,
--   SOPClassUID, SeriesDescription, BodyPartExamined (of the segmented image series where IDC
--   knows it, else the SEG's own), segmented_SeriesInstanceUID, instanceCount, series_size_MB,
--   license_short_name, source_DOI, viewer_url (Slim for slide microscopy, else OHIF v3).
--
-- Parameters:
--   @sop_class_uids     ARRAY<STRING>  SEG SOP classes to include (binary and/or label map)
--   @collection         ARRAY<STRING>  lower-case collection_id values (optional)
--   @analysis_result    ARRAY<STRING>  lower-case analysis_result_id values (optional)
--   @patient            ARRAY<STRING>  PatientID values (optional)
--   @study              ARRAY<STRING>  StudyInstanceUID values (optional)
--   @series             ARRAY<STRING>  SeriesInstanceUID values of SEG series (optional)
--   @body_part          ARRAY<STRING>  upper-case BodyPartExamined values (optional)
--   @description        STRING         case-insensitive text in SeriesDescription (optional)
--   @limit              INT64          maximum rows (optional)
{% import "macros.sql" as idc with context -%}
WITH
{{ idc.selected_seg_series(f) }},
{{ idc.sm_studies("selected") }}
SELECT
  selected.collection_id,
  selected.analysis_result_id,
  selected.PatientID,
  selected.StudyInstanceUID,
  selected.SeriesInstanceUID,
  selected.SOPClassUID,
  selected.SeriesDescription,
  selected.segmented_BodyPartExamined AS BodyPartExamined,
  selected.segmented_SeriesInstanceUID,
  selected.instanceCount,
  selected.series_size_MB,
  selected.license_short_name,
  selected.source_DOI,
  {{ idc.viewer_url("selected.StudyInstanceUID", "selected.SeriesInstanceUID", "sm_studies.StudyInstanceUID IS NOT NULL") }} AS viewer_url
FROM selected
LEFT JOIN sm_studies ON sm_studies.StudyInstanceUID = selected.StudyInstanceUID
ORDER BY collection_id, PatientID, StudyInstanceUID, SeriesInstanceUID
{%- if limit %}
LIMIT @limit
{%- endif %}
