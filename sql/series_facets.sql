-- series_facets.sql — how many SEG series have each structure, category, anatomy, algorithm
-- type or algorithm name: counts over IDC's series-level seg_index (all of IDC on the
-- embedded engine once `idcseg index fetch` stored it; aggregated from segments on BigQuery).
--
-- Returns: value (a CodeMeaning, or an algorithm type/name), series_count; largest first.
--
-- Parameters: the filters of series.sql (@sop_class_uids, @collection, @analysis_result,
--   @patient, @study, @series, @body_part, @description, @structure_meanings,
--   @category_meanings, @anatomy_meanings, @algorithm_type, @algorithm_name, @min_segments,
--   @source_modality) and @limit INT64.
{% import "macros/series.sql" as series_sql with context -%}
{%- set arrays = {
  "structure": "SegmentedPropertyType_CodeMeanings",
  "category": "SegmentedPropertyCategory_CodeMeanings",
  "anatomy": "AnatomicRegion_CodeMeanings",
} -%}
{%- set lists = {"algorithm_type": "AlgorithmType", "algorithm_name": "AlgorithmName"} -%}
WITH
{{ series_sql.selected_seg_series(f, with_arrays=True) }},
  series_values AS (
    SELECT selected.SeriesInstanceUID, value
    FROM selected
{%- if by in arrays %}
    CROSS JOIN UNNEST(selected.{{ arrays[by] }}) AS value
{%- else %}
    CROSS JOIN UNNEST(SPLIT(selected.{{ lists[by] }}, ',')) AS value
{%- endif %}
  )
SELECT
  value,
{%- if by in arrays %}
  -- seg_index's arrays hold distinct meanings, so a series lists a meaning once and counting
  -- rows counts series: COUNT(DISTINCT SeriesInstanceUID) over the ~12 M (series, meaning)
  -- pairs of all of IDC took 1.1 GB and 8 times as long on the embedded engine
  COUNT(*) AS series_count
{%- else %}
  COUNT(DISTINCT SeriesInstanceUID) AS series_count  {#- a name may hold a comma: split twice #}
{%- endif %}
FROM series_values
GROUP BY value
ORDER BY series_count DESC, value
{%- if limit %}
LIMIT @limit
{%- endif %}
