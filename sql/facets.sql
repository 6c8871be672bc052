-- facets.sql — how many segments and SEG series per structure, category, anatomy, modifier,
-- algorithm type or algorithm name: the IDC portal's pie charts, as a table.
--
-- Returns: value (the CodeMeaning, or the algorithm type/name), code ("SCHEME:VALUE"; NULL for
--   algorithm facets), segment_count, series_count; largest first.
--
-- Parameters: the filters of find.sql (@structure_codes, @structure_meanings, ..., @algorithm_type,
--   @algorithm_name, @collection, @analysis_result, @patient, @study, @series, @description,
--   @body_part, @sop_class_uids) and @limit INT64.
{% import "macros/segments.sql" as segments_sql with context -%}
{%- set prefix = {"structure": "type", "category": "category", "anatomy": "region"}.get(by) -%}
WITH
{{ segments_sql.selected_segments(f, g) }}
SELECT
{%- if prefix %}
  {{ prefix }}_meaning AS value,
  CONCAT({{ prefix }}_scheme, ':', {{ prefix }}_value) AS code,
{%- elif by == "modifier" %}
  COALESCE(type_modifiers[SAFE_OFFSET(0)].CodeMeaning, region_modifier_meaning) AS value,
  COALESCE(
    CONCAT(type_modifiers[SAFE_OFFSET(0)].CodingSchemeDesignator, ':', type_modifiers[SAFE_OFFSET(0)].CodeValue),
    CONCAT(region_modifier_scheme, ':', region_modifier_value)) AS code,
{%- elif by == "algorithm_type" %}
  SegmentAlgorithmType AS value,
  CAST(NULL AS STRING) AS code,
{%- else %}
  SegmentAlgorithmName AS value,
  CAST(NULL AS STRING) AS code,
{%- endif %}
  COUNT(*) AS segment_count,
  COUNT(DISTINCT SeriesInstanceUID) AS series_count
FROM matched
GROUP BY value, code
ORDER BY segment_count DESC, value, code
{%- if limit %}
LIMIT @limit
{%- endif %}
