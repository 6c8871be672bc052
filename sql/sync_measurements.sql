-- sync_measurements.sql — the measurement rows of IDC's TID 1500 SRs that measure the segments
-- matching the filters, for the local store (`idcseg sync --measurements`).
--
-- Returns every row of quantitative_measurements and qualitative_measurements of each SR
-- instance with at least one measurement group on a matching segment (by SEG instance +
-- segment number, or by the segment's TrackingUID), flat: kind ('quantitative' or
-- 'qualitative'), PatientID, SOPInstanceUID, SeriesInstanceUID, SeriesDescription,
-- measurementGroup_number, segmentationInstanceUID, segmentationSeriesUID,
-- segmentationSegmentNumber, sourceSegmentedSeriesUID, trackingIdentifier,
-- trackingUniqueIdentifier, then each code as <name>_value, _scheme, _version, _meaning for
-- finding, finding_site, quantity, derivation, laterality, units and value_code (a qualitative
-- row's Value), and value (FLOAT64, quantitative).
--
-- Parameters: the filters of find.sql (@structure_codes, @structure_meanings, ...,
--   @algorithm_type, @algorithm_name, @collection, @analysis_result, @patient, @study,
--   @series, @description).
{% import "macros/segments.sql" as segments_sql with context -%}
{% import "macros/idc.sql" as idc with context -%}
{% import "macros/measurements.sql" as measurements_sql with context -%}
{{- need("quantitative_measurements", "Quantity") }}
{%- macro code(prefix, record, version=True) -%}
      {{ record }}.CodeValue AS {{ prefix }}_value,
      {{ record }}.CodingSchemeDesignator AS {{ prefix }}_scheme,
      {% if version %}{{ record }}.CodingSchemeVersion{% else %}CAST(NULL AS STRING){% endif %} AS {{ prefix }}_version,
      {{ record }}.CodeMeaning AS {{ prefix }}_meaning
{%- endmacro -%}
{%- macro no_code(prefix) -%}
      CAST(NULL AS STRING) AS {{ prefix }}_value,
      CAST(NULL AS STRING) AS {{ prefix }}_scheme,
      CAST(NULL AS STRING) AS {{ prefix }}_version,
      CAST(NULL AS STRING) AS {{ prefix }}_meaning
{%- endmacro -%}
WITH
  measured_rows AS (
    SELECT
      'quantitative' AS kind,
{{ measurements_sql.measurement_rows("quantitative_measurements", "q") }},
      q.finding.CodingSchemeVersion AS finding_version,
      q.findingSite.CodingSchemeVersion AS finding_site_version,
{{ code("quantity", "q.Quantity", False) }},
{{ code("derivation", "q.derivationModifier", False) }},
{%- if has("quantitative_measurements", "lateralityModifier") %}
{{ code("laterality", "q.lateralityModifier") }},
{%- else %}
{{ no_code("laterality") }},
{%- endif %}
{{ code("units", "q.Units") }},
{{ no_code("value_code") }},
      CAST(q.Value AS FLOAT64) AS value
    FROM {{ idc.table("quantitative_measurements") }} AS q
    UNION ALL
    SELECT
      'qualitative' AS kind,
{{ measurements_sql.measurement_rows("qualitative_measurements", "c") }},
      c.finding.CodingSchemeVersion AS finding_version,
      c.findingSite.CodingSchemeVersion AS finding_site_version,
{{ code("quantity", "c.Quantity", False) }},
{{ no_code("derivation") }},
{{ no_code("laterality") }},
{{ no_code("units") }},
{{ code("value_code", "c.Value") }},
      CAST(NULL AS FLOAT64) AS value
    FROM {{ idc.table("qualitative_measurements") }} AS c
  ),
{{ segments_sql.selected_segments(f, g, keep_background=True, restrict="s.SOPInstanceUID IN (SELECT segmentationInstanceUID FROM measured_rows) OR s.TrackingUID IN (SELECT trackingUniqueIdentifier FROM measured_rows)") }},
  reports AS (
    SELECT DISTINCT measured_rows.SOPInstanceUID
    FROM measured_rows
    JOIN matched
      ON matched.SOPInstanceUID = measured_rows.segmentationInstanceUID
      AND matched.SegmentNumber = measured_rows.segmentationSegmentNumber
    UNION DISTINCT
    SELECT DISTINCT measured_rows.SOPInstanceUID
    FROM measured_rows
    JOIN matched ON matched.TrackingUID = measured_rows.trackingUniqueIdentifier
  )
SELECT
  m.kind, m.PatientID, m.SOPInstanceUID,
  m.SeriesInstanceUID, m.SeriesDescription, m.measurementGroup_number,
  m.segmentationInstanceUID, m.segmentationSeriesUID, m.segmentationSegmentNumber,
  m.sourceSegmentedSeriesUID, m.trackingIdentifier, m.trackingUniqueIdentifier,
  m.finding_value, m.finding_scheme, m.finding_version, m.finding_meaning,
  m.finding_site_value, m.finding_site_scheme, m.finding_site_version, m.finding_site_meaning,
  m.quantity_value, m.quantity_scheme, m.quantity_version, m.quantity_meaning,
  m.derivation_value, m.derivation_scheme, m.derivation_version, m.derivation_meaning,
  m.laterality_value, m.laterality_scheme, m.laterality_version, m.laterality_meaning,
  m.units_value, m.units_scheme, m.units_version, m.units_meaning,
  m.value_code_value, m.value_code_scheme, m.value_code_version, m.value_code_meaning,
  m.value
FROM measured_rows AS m
WHERE m.SOPInstanceUID IN (SELECT SOPInstanceUID FROM reports)
ORDER BY
  SOPInstanceUID, measurementGroup_number, kind DESC, quantity_scheme, quantity_value,
  derivation_value, units_value, value, value_code_scheme, value_code_value
