-- sync.sql — segment rows with everything the local store keeps of them (`idcseg sync`).
--
-- Returns one row per segment (label maps' Background segment 0 included, as a file holds it):
--   the flat segment columns of macros/segments.sql (PatientID, StudyInstanceUID,
--   SeriesInstanceUID, SOPInstanceUID, FrameOfReferenceUID, SegmentationType, SegmentNumber,
--   SegmentAlgorithmType, SegmentAlgorithmName, TrackingID, TrackingUID,
--   segmented_SeriesInstanceUID, category_*, type_*, type_modifiers, region_*,
--   region_modifier_*), SegmentLabel, SegmentDescription, and the SEG series' facts:
--   collection_id, analysis_result_id, Modality, SOPClassUID, SeriesDescription,
--   BodyPartExamined, Manufacturer, instanceCount, series_size_MB, license_short_name,
--   source_DOI, aws_bucket, crdc_series_uuid.
--
-- Parameters: the filters of find.sql (@structure_codes, @structure_meanings, ...,
--   @algorithm_type, @algorithm_name, @collection, @analysis_result, @patient, @study,
--   @series, @description, @body_part, @sop_class_uids).
{% import "macros/segments.sql" as segments_sql with context -%}
WITH
{{ segments_sql.selected_segments(f, g, keep_background=True, with_body_part=True) }},
  labels AS (
{{- segments_sql.segment_labels("matched") }}
  )
SELECT
  matched.PatientID,
  matched.StudyInstanceUID,
  matched.SeriesInstanceUID,
  matched.SOPInstanceUID,
  matched.FrameOfReferenceUID,
  matched.SegmentationType,
  matched.SegmentNumber,
  matched.SegmentAlgorithmType,
  matched.SegmentAlgorithmName,
  matched.TrackingID,
  matched.TrackingUID,
  matched.segmented_SeriesInstanceUID,
  matched.category_scheme,
  matched.category_value,
  matched.category_meaning,
  matched.type_scheme,
  matched.type_value,
  matched.type_meaning,
  matched.type_modifiers,
  matched.region_scheme,
  matched.region_value,
  matched.region_meaning,
  matched.region_modifier_scheme,
  matched.region_modifier_value,
  matched.region_modifier_meaning,
  labels.SegmentLabel,
  labels.SegmentDescription,
  series_facts.collection_id,
  series_facts.analysis_result_id,
  series_facts.Modality,
  series_facts.SOPClassUID,
  series_facts.SeriesDescription,
  series_facts.BodyPartExamined,
  series_facts.Manufacturer,
  series_facts.instanceCount,
  series_facts.series_size_MB,
  series_facts.license_short_name,
  series_facts.source_DOI,
  series_facts.aws_bucket,
  series_facts.crdc_series_uuid
FROM matched
LEFT JOIN series_facts ON series_facts.SeriesInstanceUID = matched.SeriesInstanceUID
LEFT JOIN labels
  ON labels.SOPInstanceUID = matched.SOPInstanceUID
  AND labels.SegmentNumber = matched.SegmentNumber
ORDER BY SeriesInstanceUID, SOPInstanceUID, SegmentNumber
