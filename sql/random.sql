-- random.sql — random studies that contain a DICOM Segmentation, reproducibly.
--
-- Studies are ordered by TO_HEX(MD5(CONCAT(@seed, StudyInstanceUID))): the same seed gives the
-- same studies on every machine and on both engines, and nothing like ORDER BY RAND() scans
-- more than the SEG rows.
--
-- Returns: StudyInstanceUID, PatientID, collection_id, analysis_result_id (of one of its SEG
--   series), seg_series_count, seg_series (the SEG SeriesInstanceUIDs, comma-separated,
--   sorted), viewer_url (Slim for slide microscopy, else OHIF v3).
--
-- Parameters: @seed STRING, @n INT64 (number of studies), and the series filters of
--   series.sql (@sop_class_uids, @collection, @analysis_result, @patient, @study, @series,
--   @body_part, @description and the
--   seg_index filters: @structure_meanings, @category_meanings, @anatomy_meanings,
--   @algorithm_type, @algorithm_name, @min_segments, @source_modality).
{% import "macros/series.sql" as series_sql with context -%}
{% import "macros/viewer.sql" as viewer with context -%}
WITH
{{ series_sql.selected_seg_series(f, with_source=False) }},
  studies AS (
    SELECT
      StudyInstanceUID,
      MIN(PatientID) AS PatientID,
      MIN(collection_id) AS collection_id,
      MIN(analysis_result_id) AS analysis_result_id,
      COUNT(*) AS seg_series_count,
      STRING_AGG(SeriesInstanceUID, ',' ORDER BY SeriesInstanceUID) AS seg_series
    FROM selected
    GROUP BY StudyInstanceUID
  ),
  picked AS (
    SELECT *
    FROM studies
    ORDER BY TO_HEX(MD5(CONCAT(@seed, StudyInstanceUID))), StudyInstanceUID
    LIMIT @n
  ),
{{ series_sql.sm_studies() }}
SELECT
  picked.StudyInstanceUID,
  picked.PatientID,
  picked.collection_id,
  picked.analysis_result_id,
  picked.seg_series_count,
  picked.seg_series,
  {{ viewer.default("picked.StudyInstanceUID", None, "sm_studies.StudyInstanceUID IS NOT NULL") }} AS viewer_url
FROM picked
LEFT JOIN sm_studies ON sm_studies.StudyInstanceUID = picked.StudyInstanceUID
ORDER BY TO_HEX(MD5(CONCAT(@seed, picked.StudyInstanceUID))), picked.StudyInstanceUID
