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
  selected_seg_series(f, with_source=True, with_arrays=False)
                     CTEs: seg (SEG series passing the series filters), seg_index (its scalar
                     columns; the meaning arrays too with_arrays), source (the segmented image
                     series), selected (all of it, with the filters on segment-derived columns
                     applied). with_source=False skips seg_index and source unless a filter
                     needs them.
  sm_studies(cte)    studies among those in `cte` holding slide microscopy (they open in Slim)
-#}
{% import "macros/idc.sql" as idc with context %}
{% import "macros/segments.sql" as segments with context %}

{#- Distinct meanings are collected with SELECT DISTINCT, then ARRAY_AGG: the same result as
    ARRAY_AGG(DISTINCT m IGNORE NULLS ORDER BY m), in a form every engine here runs alike. -#}
{%- macro seg_index_aggregate(where) -%}
    (
      WITH
        seg_rows AS (
          SELECT *
          FROM ({{ segments.segment_rows() }}
          ) AS r
          WHERE {{ where }}
        ),
        per_series AS (
          SELECT
            SeriesInstanceUID,
            MIN(SegmentationType) AS SegmentationType,
            COUNT(DISTINCT SegmentNumber) AS total_segments,
            STRING_AGG(DISTINCT SegmentAlgorithmType, ',' ORDER BY SegmentAlgorithmType) AS AlgorithmType,
            STRING_AGG(DISTINCT SegmentAlgorithmName, ',' ORDER BY SegmentAlgorithmName) AS AlgorithmName,
            MIN(segmented_SeriesInstanceUID) AS segmented_SeriesInstanceUID
          FROM seg_rows
          GROUP BY SeriesInstanceUID
        ),
        meanings AS (
          SELECT DISTINCT SeriesInstanceUID, 'category' AS kind, category_meaning AS meaning
          FROM seg_rows WHERE category_meaning IS NOT NULL
          UNION ALL
          SELECT DISTINCT SeriesInstanceUID, 'type' AS kind, type_meaning AS meaning
          FROM seg_rows WHERE type_meaning IS NOT NULL
          UNION ALL
          SELECT DISTINCT SeriesInstanceUID, 'region' AS kind, region_meaning AS meaning
          FROM seg_rows WHERE region_meaning IS NOT NULL
        ),
        arrays AS (
          SELECT
            SeriesInstanceUID,
            ARRAY_AGG(IF(kind = 'category', meaning, NULL) IGNORE NULLS ORDER BY meaning) AS categories,
            ARRAY_AGG(IF(kind = 'type', meaning, NULL) IGNORE NULLS ORDER BY meaning) AS types,
            ARRAY_AGG(IF(kind = 'region', meaning, NULL) IGNORE NULLS ORDER BY meaning) AS regions
          FROM meanings
          GROUP BY SeriesInstanceUID
        )
      SELECT
        per_series.SeriesInstanceUID,
        per_series.SegmentationType,
        per_series.total_segments,
        per_series.AlgorithmType,
        per_series.AlgorithmName,
        per_series.segmented_SeriesInstanceUID,
        arrays.categories AS SegmentedPropertyCategory_CodeMeanings,
        arrays.types AS SegmentedPropertyType_CodeMeanings,
        arrays.regions AS AnatomicRegion_CodeMeanings
      FROM per_series
      LEFT JOIN arrays ON arrays.SeriesInstanceUID = per_series.SeriesInstanceUID
    )
{%- endmacro -%}

{%- macro seg_index(cte) -%}
{%- if target == "bigquery" %}
    SELECT *
    FROM {{ seg_index_aggregate("SeriesInstanceUID IN (SELECT SeriesInstanceUID FROM " ~ cte ~ ")") }}
{%- else %}
    SELECT *
    FROM `local.main.idc_seg_index`
    WHERE SeriesInstanceUID IN (SELECT SeriesInstanceUID FROM {{ cte }})
    UNION ALL
    SELECT *
    FROM {{ seg_index_aggregate("SeriesInstanceUID IN (SELECT SeriesInstanceUID FROM " ~ cte ~ ") AND SeriesInstanceUID NOT IN (SELECT SeriesInstanceUID FROM `local.main.idc_seg_index`)") }}
{%- endif %}
{%- endmacro -%}

{#- Series of `seg_index` one of whose `arr` values is in @param (a semi-join: one pass over the
    unnested arrays, instead of a correlated look into each row's array). -#}
{%- macro any_value_in(arr, param, lower=True) -%}
seg_index.SeriesInstanceUID IN (
        SELECT s.SeriesInstanceUID
        FROM {{ caller() }} AS s
        CROSS JOIN UNNEST({{ arr }}) AS v
        WHERE {% if lower %}LOWER(v){% else %}v{% endif %} IN (SELECT w FROM UNNEST(@{{ param }}) AS w))
{%- endmacro -%}

{%- macro selected_seg_series(f, with_source=True, with_arrays=False) -%}
  seg AS (
    {%- call idc.seg_series() %}SOPClassUID IN UNNEST(@sop_class_uids){{ idc.series_filters(f) }}{% endcall %}
  ),
{%- if with_source or f.body_part or f.seg_index %}
{#- The array filters read the arrays once, in a semi-join. Embedded, from the index file itself
    (DuckDB then reads just the one array column, and nothing is materialized); on BigQuery, from
    the aggregate, computed once. -#}
{%- if target == "bigquery" %}
  seg_index_full AS (
{{- seg_index("seg") }}
  ),
{%- set arrays_from = "seg_index_full" %}
{%- else %}
{%- set arrays_from = "(" ~ seg_index("seg") ~ "\n    )" %}
{%- endif %}
  seg_index AS (
    SELECT
      SeriesInstanceUID,
      SegmentationType,
      total_segments,
      AlgorithmType,
      AlgorithmName,
      segmented_SeriesInstanceUID
{%- if with_arrays %},
      SegmentedPropertyCategory_CodeMeanings,
      SegmentedPropertyType_CodeMeanings,
      AnatomicRegion_CodeMeanings
{%- endif %}
    FROM {{ arrays_from }}{% if target != "bigquery" %} AS seg_index_rows{% endif %}
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
{%- if with_arrays %}
      seg_index.SegmentedPropertyCategory_CodeMeanings,
      seg_index.SegmentedPropertyType_CodeMeanings,
      seg_index.AnatomicRegion_CodeMeanings,
{%- endif %}
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
      AND {% call any_value_in("s.SegmentedPropertyType_CodeMeanings", "structure_meanings") %}{{ arrays_from }}{% endcall %}
{%- endif %}
{%- if f.category %}
      AND {% call any_value_in("s.SegmentedPropertyCategory_CodeMeanings", "category_meanings") %}{{ arrays_from }}{% endcall %}
{%- endif %}
{%- if f.anatomy %}
      AND {% call any_value_in("s.AnatomicRegion_CodeMeanings", "anatomy_meanings") %}{{ arrays_from }}{% endcall %}
{%- endif %}
{%- if f.algorithm_type %}
      AND {% call any_value_in("SPLIT(s.AlgorithmType, ',')", "algorithm_type", lower=False) %}{{ arrays_from }}{% endcall %}
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
