{#-
  macros/segments.sql — segment rows, and the filters on them.

  segment_rows()     one row per segment, in one flat shape on every engine and IDC release:
                       PatientID, StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID,
                       FrameOfReferenceUID, SegmentationType, SegmentNumber, SegmentAlgorithmType,
                       SegmentAlgorithmName, TrackingID, TrackingUID, segmented_SeriesInstanceUID,
                       category_{scheme,value,meaning}, type_{scheme,value,meaning},
                       type_modifiers (the type's modifier RECORDs, e.g. laterality),
                       region_{scheme,value,meaning}, region_modifier_{scheme,value,meaning}
                     BigQuery: IDC's `segmentations` view, in every schema era: v1–v12 lack
                     StudyInstanceUID/SeriesInstanceUID (taken from `dicom_all` by
                     SOPInstanceUID) and other columns (NULL); v13–v23 hold
                     SegmentAlgorithmName as ARRAY<STRING> (its first element is taken, as
                     IDC's later views and idc-index-data's seg_index.sql do). Plus the Label
                     Map Segmentation Storage SEGs that the view leaves out, unnested from
                     `dicom_all.SegmentSequence`; a release whose view has them keeps its own
                     rows: one row per SOPInstanceUID and SegmentNumber either way.
                     Embedded: the local store's `segmentations`.
  code_match(prefix, name, m), code_match_record(record, name, m)
                     does the code <prefix>_scheme/_value/_meaning match code filter `name`?
                     By "SCHEME:VALUE" against @<name>_codes and/or by lower-case meaning
                     against @<name>_meanings (`m` says which parameters exist); the second
                     form takes a code RECORD (CodeValue, CodingSchemeDesignator, CodeMeaning)
  selected_segments(f, g, keep_background=False, with_body_part=False, restrict=None)
                     CTEs `segments` (segment filters g; a label map's Background segment 0
                     is never a structure, unless keep_background; `restrict`, a condition on
                     the segment row `s` written by the calling template, narrows it further),
                     `series_facts` (series filters f; its BodyPartExamined only
                     with_body_part; on the embedded engine also Modality SEG — every SEG series
                     of IDC's index has it — so that DuckDB reads only the SEG blocks of its
                     copy of the index, sorted by Modality), `segmented_series`
                     (BodyPartExamined of the series the segments segment, for --body-part),
                     and `matched` (segments with collection_id, analysis_result_id, in_idc
                     and source of their SEG series)
  segment_labels(cte)
                     SegmentLabel / SegmentDescription of the segments in `cte` (IDC's view
                     lacks them: BigQuery reads dicom_all.SegmentSequence, embedded the store)
-#}
{% import "macros/idc.sql" as idc with context %}

{%- macro code_columns(prefix, record) -%}
      {{ record }}.CodingSchemeDesignator AS {{ prefix }}_scheme,
      {{ record }}.CodeValue AS {{ prefix }}_value,
      {{ record }}.CodeMeaning AS {{ prefix }}_meaning
{%- endmacro -%}

{%- macro segment_rows() -%}
{%- set has_series = has("segmentations", "SeriesInstanceUID") %}
    SELECT
      seg.PatientID,
      {% if has_series %}seg{% else %}inst{% endif %}.StudyInstanceUID,
      {% if has_series %}seg{% else %}inst{% endif %}.SeriesInstanceUID,
      seg.SOPInstanceUID,
      {{ idc.column_or_null("segmentations", "FrameOfReferenceUID", "seg.FrameOfReferenceUID") }} AS FrameOfReferenceUID,
      {{ idc.column_or_null("segmentations", "SegmentationType", "seg.SegmentationType") }} AS SegmentationType,
      seg.SegmentNumber,
      seg.SegmentAlgorithmType,
{%- if repeated("segmentations", "SegmentAlgorithmName") %}
      seg.SegmentAlgorithmName[SAFE_OFFSET(0)] AS SegmentAlgorithmName,
{%- else %}
      {{ idc.column_or_null("segmentations", "SegmentAlgorithmName", "seg.SegmentAlgorithmName") }} AS SegmentAlgorithmName,
{%- endif %}
      seg.TrackingID,
      seg.TrackingUID,
      {{ idc.column_or_null("segmentations", "segmented_SeriesInstanceUID", "seg.segmented_SeriesInstanceUID") }} AS segmented_SeriesInstanceUID,
{{ code_columns("category", "seg.SegmentedPropertyCategory") }},
{{ code_columns("type", "seg.SegmentedPropertyType") }},
      seg.SegmentedPropertyType.SegmentedPropertyTypeModifierCodeSequence AS type_modifiers,
{{ code_columns("region", "seg.AnatomicRegion") }},
{{ code_columns("region_modifier", "seg.AnatomicRegionModifier") }}
    FROM {{ idc.table("segmentations") }} AS seg
{%- if not has_series %}
    JOIN (
      SELECT
        SOPInstanceUID,
        ANY_VALUE(StudyInstanceUID) AS StudyInstanceUID,
        ANY_VALUE(SeriesInstanceUID) AS SeriesInstanceUID
      FROM {{ idc.table("dicom_all") }}
      WHERE SOPClassUID = '1.2.840.10008.5.1.4.1.1.66.4'
      GROUP BY SOPInstanceUID
    ) AS inst ON inst.SOPInstanceUID = seg.SOPInstanceUID
{%- endif %}
{%- if target == "bigquery" and has("dicom_all", "SegmentSequence") %}
    UNION ALL
    SELECT
      d.PatientID,
      d.StudyInstanceUID,
      d.SeriesInstanceUID,
      d.SOPInstanceUID,
      {{ idc.column_or_null("dicom_all", "FrameOfReferenceUID", "d.FrameOfReferenceUID") }} AS FrameOfReferenceUID,
      {{ idc.column_or_null("dicom_all", "SegmentationType", "d.SegmentationType") }} AS SegmentationType,
      seq.SegmentNumber,
      seq.SegmentAlgorithmType,
{%- if repeated("dicom_all", "SegmentSequence.SegmentAlgorithmName", unknown=True) %}
      seq.SegmentAlgorithmName[SAFE_OFFSET(0)] AS SegmentAlgorithmName,
{%- else %}
      seq.SegmentAlgorithmName,
{%- endif %}
      seq.TrackingID,
      seq.TrackingUID,
      {{ idc.column_or_null("dicom_all", "ReferencedSeriesSequence", "d.ReferencedSeriesSequence[SAFE_OFFSET(0)].SeriesInstanceUID") }} AS segmented_SeriesInstanceUID,
{{ code_columns("category", "seq.SegmentedPropertyCategoryCodeSequence[SAFE_OFFSET(0)]") }},
{{ code_columns("type", "seq.SegmentedPropertyTypeCodeSequence[SAFE_OFFSET(0)]") }},
      seq.SegmentedPropertyTypeCodeSequence[SAFE_OFFSET(0)].SegmentedPropertyTypeModifierCodeSequence AS type_modifiers,
{{ code_columns("region", "seq.AnatomicRegionSequence[SAFE_OFFSET(0)]") }},
{{ code_columns("region_modifier", "seq.AnatomicRegionSequence[SAFE_OFFSET(0)].AnatomicRegionModifierSequence[SAFE_OFFSET(0)]") }}
    FROM {{ idc.table("dicom_all") }} AS d
    CROSS JOIN UNNEST(d.SegmentSequence) AS seq
    WHERE d.SOPClassUID = '1.2.840.10008.5.1.4.1.1.66.7'
      AND NOT EXISTS (
        SELECT 1
        FROM {{ idc.table("segmentations") }} AS own
        WHERE own.SOPInstanceUID = d.SOPInstanceUID
          AND own.SegmentNumber = seq.SegmentNumber)
{%- endif %}
{%- endmacro -%}

{%- macro code_match(prefix, name, m) -%}
(
{%- if m.codes %}CONCAT({{ prefix }}_scheme, ':', {{ prefix }}_value) IN UNNEST(@{{ name }}_codes){% endif %}
{%- if m.codes and m.meanings %} OR {% endif %}
{%- if m.meanings %}LOWER({{ prefix }}_meaning) IN UNNEST(@{{ name }}_meanings){% endif -%}
)
{%- endmacro -%}

{%- macro code_match_record(record, name, m) -%}
(
{%- if m.codes %}CONCAT({{ record }}.CodingSchemeDesignator, ':', {{ record }}.CodeValue) IN UNNEST(@{{ name }}_codes){% endif %}
{%- if m.codes and m.meanings %} OR {% endif %}
{%- if m.meanings %}LOWER({{ record }}.CodeMeaning) IN UNNEST(@{{ name }}_meanings){% endif -%}
)
{%- endmacro -%}

{%- macro selected_segments(f, g, keep_background=False, with_body_part=False, restrict=None) -%}
  segments AS (
    SELECT s.*
    FROM ({{ segment_rows() }}
    ) AS s
{%- if keep_background %}
    WHERE TRUE
{%- else %}
    WHERE NOT (s.SegmentNumber = 0 AND s.type_scheme = 'DCM' AND s.type_value = '125040')
{%- endif %}
{%- if g.structure %}
      AND {{ code_match("s.type", "structure", g.structure) }}
{%- endif %}
{%- if g.category %}
      AND {{ code_match("s.category", "category", g.category) }}
{%- endif %}
{%- if g.anatomy %}
      AND {{ code_match("s.region", "anatomy", g.anatomy) }}
{%- endif %}
{%- if g.modifier %}
      AND (
        {{ code_match("s.region_modifier", "modifier", g.modifier) }}
        OR EXISTS (
          SELECT 1
          FROM UNNEST(s.type_modifiers) AS m
          WHERE {{ code_match_record("m", "modifier", g.modifier) }}))
{%- endif %}
{%- if g.algorithm_type %}
      AND UPPER(s.SegmentAlgorithmType) IN UNNEST(@algorithm_type)
{%- endif %}
{%- if g.algorithm_name %}
      {{- need("segmentations", "SegmentAlgorithmName") }}
      AND STRPOS(LOWER(s.SegmentAlgorithmName), LOWER(@algorithm_name)) > 0
{%- endif %}
{%- if f.series %}
      AND s.SeriesInstanceUID IN UNNEST(@series)
{%- endif %}
{%- if restrict %}
      AND ({{ restrict }})
{%- endif %}
  ),
  series_facts AS (
    {%- call idc.seg_series(with_body_part or f.body_part) -%}
    SeriesInstanceUID IN (SELECT SeriesInstanceUID FROM segments){{ idc.series_filters(f) }}
{%- if target != "bigquery" %}
      AND Modality = 'SEG'
{%- endif %}
{%- if f.sop_class %}
      AND SOPClassUID IN UNNEST(@sop_class_uids)
{%- endif %}
    {%- endcall %}
  ),
{%- if f.body_part %}
  segmented_series AS (
    SELECT
      SeriesInstanceUID,
      ANY_VALUE({{ idc.body_part() }}) AS BodyPartExamined
    FROM {{ idc.table("dicom_all") }}{{ idc.body_part_join() }}
    WHERE SeriesInstanceUID IN (SELECT segmented_SeriesInstanceUID FROM segments)
    GROUP BY SeriesInstanceUID
  ),
{%- endif %}
  matched AS (
    SELECT
      series_facts.collection_id,
      series_facts.analysis_result_id,
      series_facts.crdc_series_uuid IS NOT NULL AS in_idc,
      COALESCE(series_facts.source, 'local') AS source,
      segments.*
    FROM segments
    {% if f.collection or f.analysis_result or f.patient or f.study or f.description or f.sop_class or f.body_part or f.source %}JOIN{% else %}LEFT JOIN{% endif %} series_facts
      ON series_facts.SeriesInstanceUID = segments.SeriesInstanceUID
{%- if f.body_part %}
    LEFT JOIN segmented_series
      ON segmented_series.SeriesInstanceUID = segments.segmented_SeriesInstanceUID
    WHERE UPPER(COALESCE(segmented_series.BodyPartExamined, series_facts.BodyPartExamined)) IN UNNEST(@body_part)
{%- endif %}
  )
{%- endmacro -%}



{%- macro segment_labels(cte) -%}
{%- if target == "bigquery" %}
    SELECT d.SOPInstanceUID, seq.SegmentNumber, seq.SegmentLabel, seq.SegmentDescription
    FROM {{ idc.table("dicom_all") }} AS d
    CROSS JOIN UNNEST(d.SegmentSequence) AS seq
    WHERE d.SOPInstanceUID IN (SELECT SOPInstanceUID FROM {{ cte }})
{%- else %}
    SELECT SOPInstanceUID, SegmentNumber, SegmentLabel, SegmentDescription
    FROM {{ idc.store_table("segment_labels") }}
    WHERE SOPInstanceUID IN (SELECT SOPInstanceUID FROM {{ cte }})
{%- endif %}
{%- endmacro -%}
