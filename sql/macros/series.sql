{#-
  macros/series.sql — the SEG series every series-level template starts from.

  seg_index(cte)     IDC's series-level segmentation index for the series in `cte`, one row per
                     SEG series: SeriesInstanceUID, SegmentationType, total_segments,
                     AlgorithmType, AlgorithmName (comma-joined distinct values),
                     segmented_SeriesInstanceUID, and arrays of the distinct CodeMeanings of
                     SegmentedPropertyCategory, SegmentedPropertyType and AnatomicRegion.
                     BigQuery aggregates segment rows the way idc-index-data builds
                     seg_index; embedded, it is IDC's published seg_index.parquet (`idcseg
                     index fetch`) plus the same aggregation of locally stored segment rows
                     for series that file does not describe.
  selected_seg_series(f, with_source=True)
                     CTEs: seg (SEG series passing the series filters), seg_index, source (the
                     segmented image series), selected (all of it, with the filters on
                     segment-derived columns applied). with_source=False skips seg_index and
                     source unless a filter needs them.
  sm_studies(cte)    studies among those in `cte` holding slide microscopy (they open in Slim)
-#}
{% import "macros/idc.sql" as idc with context %}
{% import "macros/segments.sql" as segments with context %}

{%- macro seg_index_aggregate(where) -%}
    SELECT
      SeriesInstanceUID,
      MIN(SegmentationType) AS SegmentationType,
      COUNT(DISTINCT SegmentNumber) AS total_segments,
      STRING_AGG(DISTINCT SegmentAlgorithmType, ',' ORDER BY SegmentAlgorithmType) AS AlgorithmType,
      STRING_AGG(DISTINCT SegmentAlgorithmName, ',' ORDER BY SegmentAlgorithmName) AS AlgorithmName,
      MIN(segmented_SeriesInstanceUID) AS segmented_SeriesInstanceUID,
      ARRAY_AGG(DISTINCT category_meaning IGNORE NULLS ORDER BY category_meaning) AS SegmentedPropertyCategory_CodeMeanings,
      ARRAY_AGG(DISTINCT type_meaning IGNORE NULLS ORDER BY type_meaning) AS SegmentedPropertyType_CodeMeanings,
      ARRAY_AGG(DISTINCT region_meaning IGNORE NULLS ORDER BY region_meaning) AS AnatomicRegion_CodeMeanings
    FROM ({{ segments.segment_rows() }}
    ) AS rows
    WHERE {{ where }}
    GROUP BY SeriesInstanceUID
{%- endmacro -%}

{%- macro seg_index(cte) -%}
{%- if target == "bigquery" %}
{{ seg_index_aggregate("SeriesInstanceUID IN (SELECT SeriesInstanceUID FROM " ~ cte ~ ")") }}
{%- else %}
    SELECT *
    FROM `local.main.idc_seg_index`
    WHERE SeriesInstanceUID IN (SELECT SeriesInstanceUID FROM {{ cte }})
    UNION ALL
{{ seg_index_aggregate("SeriesInstanceUID IN (SELECT SeriesInstanceUID FROM " ~ cte ~ ") AND SeriesInstanceUID NOT IN (SELECT SeriesInstanceUID FROM `local.main.idc_seg_index`)") }}
{%- endif %}
{%- endmacro -%}

{%- macro any_meaning(arr, param) -%}
EXISTS (SELECT 1 FROM UNNEST({{ arr }}) AS v WHERE LOWER(v) IN UNNEST(@{{ param }}))
{%- endmacro -%}

{%- macro selected_seg_series(f, with_source=True) -%}
  seg AS (
    {%- call idc.seg_series() %}SOPClassUID IN UNNEST(@sop_class_uids){{ idc.series_filters(f) }}{% endcall %}
  ),
{%- if with_source or f.body_part or f.seg_index %}
  seg_index AS (
{{- seg_index("seg") }}
  ),
  source AS (
    SELECT
      SeriesInstanceUID,
      ANY_VALUE(BodyPartExamined) AS BodyPartExamined,
      ANY_VALUE(Modality) AS Modality
    FROM {{ idc.table("dicom_all") }}
    WHERE SeriesInstanceUID IN (SELECT segmented_SeriesInstanceUID FROM seg_index)
    GROUP BY SeriesInstanceUID
  ),
  selected AS (
    SELECT
      seg.*,
      seg_index.SegmentationType,
      seg_index.total_segments,
      seg_index.AlgorithmType,
      seg_index.AlgorithmName,
      seg_index.SegmentedPropertyCategory_CodeMeanings,
      seg_index.SegmentedPropertyType_CodeMeanings,
      seg_index.AnatomicRegion_CodeMeanings,
      seg_index.segmented_SeriesInstanceUID,
      source.Modality AS segmented_Modality,
      COALESCE(source.BodyPartExamined, seg.BodyPartExamined) AS segmented_BodyPartExamined
    FROM seg
    LEFT JOIN seg_index ON seg_index.SeriesInstanceUID = seg.SeriesInstanceUID
    LEFT JOIN source ON source.SeriesInstanceUID = seg_index.segmented_SeriesInstanceUID
    WHERE TRUE
{%- if f.body_part %}
      AND UPPER(COALESCE(source.BodyPartExamined, seg.BodyPartExamined)) IN UNNEST(@body_part)
{%- endif %}
{%- if f.structure %}
      AND {{ any_meaning("seg_index.SegmentedPropertyType_CodeMeanings", "structure_meanings") }}
{%- endif %}
{%- if f.category %}
      AND {{ any_meaning("seg_index.SegmentedPropertyCategory_CodeMeanings", "category_meanings") }}
{%- endif %}
{%- if f.anatomy %}
      AND {{ any_meaning("seg_index.AnatomicRegion_CodeMeanings", "anatomy_meanings") }}
{%- endif %}
{%- if f.algorithm_type %}
      AND EXISTS (
        SELECT 1 FROM UNNEST(SPLIT(seg_index.AlgorithmType, ',')) AS token
        WHERE token IN UNNEST(@algorithm_type))
{%- endif %}
{%- if f.algorithm_name %}
      {{- need("segmentations", "SegmentAlgorithmName") }}
      AND STRPOS(LOWER(seg_index.AlgorithmName), LOWER(@algorithm_name)) > 0
{%- endif %}
{%- if f.min_segments %}
      AND seg_index.total_segments >= @min_segments
{%- endif %}
{%- if f.source_modality %}
      AND UPPER(source.Modality) IN UNNEST(@source_modality)
{%- endif %}
  )
{%- else %}
  selected AS (
    SELECT * FROM seg
  )
{%- endif %}
{%- endmacro -%}

{%- macro sm_studies(cte) -%}
  sm_studies AS (
    SELECT DISTINCT StudyInstanceUID
    FROM {{ idc.table("dicom_all") }}
    WHERE Modality = 'SM'
      AND StudyInstanceUID IN (SELECT StudyInstanceUID FROM {{ cte }})
  )
{%- endmacro -%}
