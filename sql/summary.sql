-- summary.sql — how many SEG series, studies and patients IDC has, per collection or per
-- analysis result.
--
-- Returns: source ('idc', or 'local': your own SEGs that IDC does not host, a group of their
--   own), collection_id | analysis_result_id (the grouping), series_count, study_count,
--   patient_count, size_MB; largest groups first.
--
-- Parameters: the series filters of series.sql (@sop_class_uids, @collection,
--   @analysis_result, @patient, @study, @series, @body_part, @description and the
--   seg_index filters: @structure_meanings, @category_meanings, @anatomy_meanings,
--   @algorithm_type, @algorithm_name, @min_segments, @source_modality), and @limit.
{% import "macros/series.sql" as series_sql with context -%}
WITH
{{ series_sql.selected_seg_series(f, with_source=False) }}
SELECT
  source,
  {{ group_by }},
  COUNT(*) AS series_count,
  COUNT(DISTINCT StudyInstanceUID) AS study_count,
  COUNT(DISTINCT PatientID) AS patient_count,
  ROUND(SUM(series_size_MB), 6) AS size_MB
FROM selected
GROUP BY source, {{ group_by }}
ORDER BY source, series_count DESC, {{ group_by }}
{%- if limit %}
LIMIT @limit
{%- endif %}
