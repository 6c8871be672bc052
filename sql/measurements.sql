-- measurements.sql — what each segment measures and how readers rated it: one row per
-- measurement of a TID 1500 SR (IDC's quantitative_measurements and qualitative_measurements),
-- with the segment it belongs to.
--
-- Returns: collection_id, analysis_result_id, PatientID, StudyInstanceUID, SeriesInstanceUID,
--   SOPInstanceUID, SegmentNumber, SegmentLabel, structure, structure_code (the SEG segment;
--   NULL when it is not among the segments the engine sees), finding, finding_code,
--   finding_site, finding_site_code, kind ('quantitative' or 'qualitative'), quantity,
--   quantity_code, derivation, value (FLOAT64; quantitative), units (UCUM code; quantitative),
--   value_meaning, value_code (qualitative), trackingIdentifier, trackingUniqueIdentifier,
--   link ('segment': by segmentationInstanceUID + segmentationSegmentNumber; 'tracking_uid': by
--   the segment's TrackingUID; NULL: not linked), sr_SeriesInstanceUID, sr_SOPInstanceUID,
--   measurementGroup_number, source ('idc', or 'local' for your own SEGs; NULL when not
--   linked), viewer_url (the SEG in IDC's viewer; NULL for SEGs IDC does not host).
--
-- Parameters (each only when its filter is used):
--   the segment and series filters of find.sql (@structure_codes, ..., @collection, ...),
--   @quantity_codes ARRAY<STRING> "SCHEME:VALUE" upper-case, @quantity_meanings ARRAY<STRING>
--   lower-case,
--   @min_value, @max_value FLOAT64 (on value), @unit STRING (a UCUM code: values are
--   converted to it and rounded to 9 decimals, as NUMERIC holds them; other kinds of units
--   are left out), @evaluation<i>_codes / _meanings (the concept) and
--   @evaluation<i>_value_codes / _value_meanings / _value_texts (its value) ARRAY<STRING>,
--   @limit INT64.
{% import "macros/segments.sql" as segments_sql with context -%}
{% import "macros/viewer.sql" as viewer with context -%}
{% import "macros/idc.sql" as idc with context -%}
{% import "macros/measurements.sql" as measurements_sql with context -%}
{% import "macros/units.sql" as units with context -%}
{{- need("quantitative_measurements", "Quantity") }}
{%- set q_table = "quantitative_measurements" %}
{%- set c_table = "qualitative_measurements" %}
WITH
  quantitative AS (
    SELECT
{{ measurements_sql.measurement_rows(q_table, "q") }},
      'quantitative' AS kind,
{{ measurements_sql.code_parts("quantity", "q.Quantity") }},
      q.derivationModifier.CodeMeaning AS derivation,
{%- if m.unit %}
      ROUND(CAST(q.Value AS FLOAT64) * {{ units.size("q.Units.CodeValue") }} / {{ units.size("@unit") }}, 9) AS value,
      @unit AS units,
{%- else %}
      CAST(q.Value AS FLOAT64) AS value,
      q.Units.CodeValue AS units,
{%- endif %}
      CAST(NULL AS STRING) AS value_meaning,
      CAST(NULL AS STRING) AS value_code
    FROM {{ idc.table(q_table) }} AS q
    WHERE TRUE
{%- if m.quantity %}
      AND {{ measurements_sql.code_match("q.Quantity", "quantity", m.quantity) }}
{%- endif %}
{%- if m.unit %}
      AND {{ units.kind("q.Units.CodeValue") }} = {{ units.kind("@unit") }}
{%- endif %}
{%- for e in m.evaluations %}
      AND {{ measurements_sql.evaluated("q", loop.index0, e) }}
{%- endfor %}
  ),
  qualitative AS (
    SELECT
{{ measurements_sql.measurement_rows(c_table, "c") }},
      'qualitative' AS kind,
{{ measurements_sql.code_parts("quantity", "c.Quantity") }},
      CAST(NULL AS STRING) AS derivation,
      CAST(NULL AS FLOAT64) AS value,
      CAST(NULL AS STRING) AS units,
      c.Value.CodeMeaning AS value_meaning,
      CONCAT(c.Value.CodingSchemeDesignator, ':', c.Value.CodeValue) AS value_code
    FROM {{ idc.table(c_table) }} AS c
    WHERE TRUE
{%- if m.quantity %}
      AND {{ measurements_sql.code_match("c.Quantity", "quantity", m.quantity) }}
{%- endif %}
{%- for e in m.evaluations %}
      AND {{ measurements_sql.evaluated("c", loop.index0, e) }}
{%- endfor %}
  ),
  measured AS (
{%- if m.kind != "qualitative" %}
    SELECT * FROM quantitative
{%- if m.min %}
    WHERE value >= @min_value{% if m.max %} AND value <= @max_value{% endif %}
{%- elif m.max %}
    WHERE value <= @max_value
{%- endif %}
{%- endif %}
{%- if m.kind == "all" %}
    UNION ALL
{%- endif %}
{%- if m.kind != "quantitative" %}
    SELECT * FROM qualitative
{%- endif %}
  ),
{{ segments_sql.selected_segments(f, g, restrict="s.SOPInstanceUID IN (SELECT segmentationInstanceUID FROM measured) OR s.TrackingUID IN (SELECT trackingUniqueIdentifier FROM measured)") }},
  tracked AS (
    SELECT SOPInstanceUID, SegmentNumber, TrackingUID
    FROM matched
    WHERE TrackingUID IS NOT NULL
    QUALIFY ROW_NUMBER() OVER (PARTITION BY TrackingUID ORDER BY SOPInstanceUID, SegmentNumber) = 1
  ),
  linked AS (
    SELECT
      measured.*,
      COALESCE(by_ref.SOPInstanceUID, by_uid.SOPInstanceUID) AS seg_sop,
      COALESCE(by_ref.SegmentNumber, by_uid.SegmentNumber) AS seg_number,
      CASE
        WHEN by_ref.SOPInstanceUID IS NOT NULL THEN 'segment'
        WHEN by_uid.SOPInstanceUID IS NOT NULL THEN 'tracking_uid'
      END AS link
    FROM measured
    LEFT JOIN matched AS by_ref
      ON by_ref.SOPInstanceUID = measured.segmentationInstanceUID
      AND by_ref.SegmentNumber = measured.segmentationSegmentNumber
    LEFT JOIN tracked AS by_uid
      ON by_uid.TrackingUID = measured.trackingUniqueIdentifier
  ),
  labels AS (
{{- segments_sql.segment_labels("matched") }}
  )
SELECT
  seg.collection_id,
  seg.analysis_result_id,
  COALESCE(seg.PatientID, linked.PatientID) AS PatientID,
  seg.StudyInstanceUID,
  seg.SeriesInstanceUID,
  seg.SOPInstanceUID,
  seg.SegmentNumber,
  labels.SegmentLabel,
  seg.type_meaning AS structure,
  CONCAT(seg.type_scheme, ':', seg.type_value) AS structure_code,
  linked.finding_meaning AS finding,
  CONCAT(linked.finding_scheme, ':', linked.finding_value) AS finding_code,
  linked.finding_site_meaning AS finding_site,
  CONCAT(linked.finding_site_scheme, ':', linked.finding_site_value) AS finding_site_code,
  linked.kind,
  linked.quantity_meaning AS quantity,
  CONCAT(linked.quantity_scheme, ':', linked.quantity_value) AS quantity_code,
  linked.derivation,
  linked.value,
  linked.units,
  linked.value_meaning,
  linked.value_code,
  linked.trackingIdentifier,
  linked.trackingUniqueIdentifier,
  linked.link,
  linked.SeriesInstanceUID AS sr_SeriesInstanceUID,
  linked.SOPInstanceUID AS sr_SOPInstanceUID,
  linked.measurementGroup_number,
  seg.source,
  {{ viewer.seg_link("seg.StudyInstanceUID", "seg.SeriesInstanceUID", "seg.segmented_SeriesInstanceUID", "COALESCE(seg.in_idc, FALSE)") }} AS viewer_url
FROM linked
LEFT JOIN matched AS seg
  ON seg.SOPInstanceUID = linked.seg_sop
  AND seg.SegmentNumber = linked.seg_number
LEFT JOIN labels
  ON labels.SOPInstanceUID = linked.seg_sop
  AND labels.SegmentNumber = linked.seg_number
{%- if linked_only %}
WHERE linked.link IS NOT NULL
{%- endif %}
ORDER BY
  seg.SeriesInstanceUID, seg.SOPInstanceUID, seg.SegmentNumber, sr_SOPInstanceUID,
  measurementGroup_number, kind DESC, quantity_code, derivation, units, value, value_code
{%- if limit %}
LIMIT @limit
{%- endif %}
