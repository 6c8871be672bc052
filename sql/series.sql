-- series.sql — DICOM Segmentation series in IDC, one row per SEG series.
--
-- Returns: collection_id, analysis_result_id, PatientID, StudyInstanceUID, SeriesInstanceUID,
--   SOPClassUID, SeriesDescription, BodyPartExamined (of the segmented image series where
--   known, else the SEG's own), and from the series' segments (IDC's seg_index, or the local
--   store's segment rows; NULL when neither describes the series): SegmentationType,
--   total_segments, AlgorithmType, AlgorithmName, segmented_SeriesInstanceUID,
--   segmented_Modality; then instanceCount,
--   series_size_MB, license_short_name, source_DOI, source ('idc', or 'local' for your own
--   ingested SEGs that IDC does not host), viewer_url (Slim for slide microscopy, else OHIF
--   v3; NULL for series IDC does not host).
--
-- Parameters:
--   @sop_class_uids     ARRAY<STRING>  SEG SOP classes to include (binary and/or label map)
--   @collection         ARRAY<STRING>  lower-case collection_id values (optional)
--   @analysis_result    ARRAY<STRING>  lower-case analysis_result_id values (optional)
--   @patient            ARRAY<STRING>  PatientID values (optional)
--   @study              ARRAY<STRING>  StudyInstanceUID values (optional)
--   @series             ARRAY<STRING>  SeriesInstanceUID values of SEG series (optional)
--   @body_part          ARRAY<STRING>  upper-case BodyPartExamined values (optional; IDC's
--                                      curated values, as in idc-index)
--   @description        STRING         case-insensitive text in SeriesDescription (optional)
--   @structure_meanings, @category_meanings, @anatomy_meanings
--                       ARRAY<STRING>  lower-case CodeMeanings one of which the series' segments
--                                      must have (optional)
--   @algorithm_type     ARRAY<STRING>  SegmentAlgorithmType tokens (optional)
--   @algorithm_name     STRING         text in AlgorithmName (optional)
--   @min_segments       INT64          fewest segments (optional)
--   @source_modality    ARRAY<STRING>  Modality of the segmented image series (optional)
--   @limit              INT64          maximum rows (optional)
-- The `source` filter (series IDC hosts, or your own SEGs it does not) is a choice of clause,
-- not a parameter.
{% import "macros/series.sql" as series_sql with context -%}
{% import "macros/viewer.sql" as viewer with context -%}
WITH
{{ series_sql.selected_seg_series(f) }},
{{ series_sql.sm_studies() }}
SELECT
  selected.collection_id,
  selected.analysis_result_id,
  selected.PatientID,
  selected.StudyInstanceUID,
  selected.SeriesInstanceUID,
  selected.SOPClassUID,
  selected.SeriesDescription,
  selected.segmented_BodyPartExamined AS BodyPartExamined,
  selected.SegmentationType,
  selected.total_segments,
  selected.AlgorithmType,
  selected.AlgorithmName,
  selected.segmented_SeriesInstanceUID,
  selected.segmented_Modality,
  selected.instanceCount,
  selected.series_size_MB,
  selected.license_short_name,
  selected.source_DOI,
  selected.source,
  CASE WHEN selected.crdc_series_uuid IS NOT NULL THEN {{ viewer.default("selected.StudyInstanceUID", "selected.SeriesInstanceUID", "sm_studies.StudyInstanceUID IS NOT NULL") }} END AS viewer_url
FROM selected
LEFT JOIN sm_studies ON sm_studies.StudyInstanceUID = selected.StudyInstanceUID
ORDER BY collection_id, PatientID, StudyInstanceUID, SeriesInstanceUID
{%- if limit %}
LIMIT @limit
{%- endif %}
