-- find.sql — segments of DICOM Segmentations: one row per segment, or per SEG series.
--
-- Returns (per="segment"): collection_id, analysis_result_id, PatientID, StudyInstanceUID,
--   SeriesInstanceUID, SOPInstanceUID, SegmentNumber, SegmentLabel, category, structure,
--   structure_code ("SCHEME:VALUE"), anatomy, modifier (first type modifier, else the anatomic
--   region modifier: e.g. Left/Right), SegmentAlgorithmType, SegmentAlgorithmName,
--   SegmentationType, segmented_SeriesInstanceUID, source ('idc', or 'local' for your own
--   SEGs), viewer_url (the SEG opened over the series it segments: OHIF v3 as IDC's own
--   segmentations.viewer_url, or OHIF v2 on request; NULL for SEGs IDC does not host).
-- Returns (per="series"): collection_id, analysis_result_id, PatientID, StudyInstanceUID,
--   SeriesInstanceUID, segment_count, structures, anatomies, algorithm_types, algorithm_names,
--   segmented_SeriesInstanceUID, source, viewer_url.
--
-- Parameters (each only when its filter is used):
--   @structure_codes, @category_codes, @anatomy_codes, @modifier_codes  ARRAY<STRING> "SCHEME:VALUE"
--   @structure_meanings, @category_meanings, @anatomy_meanings, @modifier_meanings
--                                                                       ARRAY<STRING> lower-case
--   @algorithm_type ARRAY<STRING> (upper-case tokens), @algorithm_name STRING (text, any case),
--   @collection, @analysis_result, @patient, @study, @series ARRAY<STRING>,
--   @description STRING,
--   @body_part ARRAY<STRING> (upper-case BodyPartExamined of the segmented series, else the SEG's),
--   @sop_class_uids ARRAY<STRING> (SEG SOP classes), @limit INT64
{% import "macros/segments.sql" as segments_sql with context -%}
{% import "macros/viewer.sql" as viewer with context -%}
WITH
{{ segments_sql.selected_segments(f, g) }},
  labels AS (
{{- segments_sql.segment_labels("matched") }}
  )
{%- if per == "series" %}
SELECT
  collection_id,
  analysis_result_id,
  PatientID,
  StudyInstanceUID,
  SeriesInstanceUID,
  COUNT(*) AS segment_count,
  STRING_AGG(DISTINCT type_meaning, ', ' ORDER BY type_meaning) AS structures,
  STRING_AGG(DISTINCT region_meaning, ', ' ORDER BY region_meaning) AS anatomies,
  STRING_AGG(DISTINCT SegmentAlgorithmType, ', ' ORDER BY SegmentAlgorithmType) AS algorithm_types,
  STRING_AGG(DISTINCT SegmentAlgorithmName, ', ' ORDER BY SegmentAlgorithmName) AS algorithm_names,
  MIN(segmented_SeriesInstanceUID) AS segmented_SeriesInstanceUID,
  source,
  {{ viewer.seg_link("StudyInstanceUID", "SeriesInstanceUID", "MIN(segmented_SeriesInstanceUID)", "LOGICAL_OR(in_idc)", seg_viewer) }} AS viewer_url
FROM matched
GROUP BY collection_id, analysis_result_id, PatientID, StudyInstanceUID, SeriesInstanceUID, source
ORDER BY collection_id, PatientID, StudyInstanceUID, SeriesInstanceUID
{%- else %}
SELECT
  matched.collection_id,
  matched.analysis_result_id,
  matched.PatientID,
  matched.StudyInstanceUID,
  matched.SeriesInstanceUID,
  matched.SOPInstanceUID,
  matched.SegmentNumber,
  labels.SegmentLabel,
  matched.category_meaning AS category,
  matched.type_meaning AS structure,
  CONCAT(matched.type_scheme, ':', matched.type_value) AS structure_code,
  matched.region_meaning AS anatomy,
  COALESCE(matched.type_modifiers[SAFE_OFFSET(0)].CodeMeaning, matched.region_modifier_meaning) AS modifier,
  matched.SegmentAlgorithmType,
  matched.SegmentAlgorithmName,
  matched.SegmentationType,
  matched.segmented_SeriesInstanceUID,
  matched.source,
  {{ viewer.seg_link("matched.StudyInstanceUID", "matched.SeriesInstanceUID", "matched.segmented_SeriesInstanceUID", "matched.in_idc", seg_viewer) }} AS viewer_url
FROM matched
LEFT JOIN labels
  ON labels.SOPInstanceUID = matched.SOPInstanceUID
  AND labels.SegmentNumber = matched.SegmentNumber
ORDER BY collection_id, PatientID, StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID, SegmentNumber
{%- endif %}
{%- if limit %}
LIMIT @limit
{%- endif %}
