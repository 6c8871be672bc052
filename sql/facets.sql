-- facets.sql — how many segments and SEG series per structure, category, anatomy, modifier,
-- algorithm type or algorithm name: the IDC portal's pie charts, as a table.
--
-- Returns: value (the CodeMeaning, or the algorithm type/name), code ("SCHEME:VALUE"; NULL for
--   algorithm facets), segment_count, series_count; largest first.
--
-- Parameters: the filters of find.sql (@structure_codes, @structure_meanings, ..., @algorithm_type,
--   @algorithm_name, @collection, @analysis_result, @patient, @study, @series, @description) and
--   @limit INT64.
{% import "macros.sql" as idc with context -%}
{%- set facet = {
  "structure": "SegmentedPropertyType",
  "category": "SegmentedPropertyCategory",
  "anatomy": "AnatomicRegion",
}.get(by) -%}
WITH
{{ idc.selected_segments(f, g) }}
SELECT
{%- if facet %}
  {{ facet }}.CodeMeaning AS value,
  CONCAT({{ facet }}.CodingSchemeDesignator, ':', {{ facet }}.CodeValue) AS code,
{%- elif by == "modifier" %}
  COALESCE(
    SegmentedPropertyType.SegmentedPropertyTypeModifierCodeSequence[SAFE_OFFSET(0)].CodeMeaning,
    AnatomicRegionModifier.CodeMeaning) AS value,
  COALESCE(
    CONCAT(
      SegmentedPropertyType.SegmentedPropertyTypeModifierCodeSequence[SAFE_OFFSET(0)].CodingSchemeDesignator,
      ':',
      SegmentedPropertyType.SegmentedPropertyTypeModifierCodeSequence[SAFE_OFFSET(0)].CodeValue),
    CONCAT(AnatomicRegionModifier.CodingSchemeDesignator, ':', AnatomicRegionModifier.CodeValue)) AS code,
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
