{#-
  macros/series.sql — the SEG series every series-level template starts from.

  seg_index(cte, f=None, with_arrays=True, with_body_part=True)
                     IDC's series-level segmentation index for the series in `cte` (embedded:
                     IDC's rows are not restricted; join the result with `cte`) that pass the
                     seg_index filters of `f`, one row per SEG series: SeriesInstanceUID,
                     SegmentationType, total_segments, AlgorithmType, AlgorithmName
                     (comma-joined distinct values), segmented_SeriesInstanceUID, the segmented
                     series' segmented_Modality and (with_body_part) segmented_BodyPartExamined
                     (IDC's curated value, see idc.body_part()),
                     and (with_arrays) arrays of the distinct CodeMeanings of
                     SegmentedPropertyCategory, SegmentedPropertyType and AnatomicRegion.
                     BigQuery aggregates segment rows the way idc-index-data builds seg_index;
                     embedded, it is IDC's published seg_index.parquet (`idcseg index fetch`;
                     the segmented series' facts joined in when its copy is made) plus the
                     same aggregation of locally stored segment rows for series that file does
                     not describe.
  seg_index_filters(f, file=False)
                     `AND ...` conditions on one seg_index row for the seg_index filters of `f`.
  selected_seg_series(f, with_source=True, with_arrays=False)
                     CTEs: seg (SEG series passing the series filters), seg_index (its scalar
                     columns; the meaning arrays too with_arrays), selected (all of it, with
                     every filter applied; only series with a seg_index row when a seg_index
                     filter is given). with_source=False skips seg_index (and so the segmented
                     series' modality and body part) unless a filter needs it. Every row has
                     `source` ('idc' or 'local').
  sm_studies()       the studies holding slide microscopy (they open in Slim)
-#}
{% import "macros/idc.sql" as idc with context %}
{% import "macros/segments.sql" as segments with context %}

{#- Distinct meanings are collected with SELECT DISTINCT, then ARRAY_AGG: the same result as
    ARRAY_AGG(DISTINCT m IGNORE NULLS ORDER BY m), in a form every engine here runs alike. -#}
{%- macro seg_index_aggregate(where, with_body_part=True) -%}
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
        ),
        segmented AS (
          SELECT
            SeriesInstanceUID,
            ANY_VALUE(Modality) AS Modality,
{%- if with_body_part %}
            ANY_VALUE({{ idc.body_part() }}) AS BodyPartExamined
          FROM {{ idc.table("dicom_all") }}{{ idc.body_part_join() }}
{%- else %}
            CAST(NULL AS STRING) AS BodyPartExamined
          FROM {{ idc.table("dicom_all") }}
{%- endif %}
          WHERE SeriesInstanceUID IN (SELECT segmented_SeriesInstanceUID FROM per_series)
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
        arrays.regions AS AnatomicRegion_CodeMeanings,
        segmented.Modality AS segmented_Modality,
        segmented.BodyPartExamined AS segmented_BodyPartExamined
      FROM per_series
      LEFT JOIN arrays ON arrays.SeriesInstanceUID = per_series.SeriesInstanceUID
      LEFT JOIN segmented ON segmented.SeriesInstanceUID = per_series.segmented_SeriesInstanceUID
    )
{%- endmacro -%}

{%- macro seg_index(cte, f=None, with_arrays=True, with_body_part=True) -%}
{%- if target == "bigquery" %}
    SELECT *
    FROM {{ seg_index_aggregate("SeriesInstanceUID IN (SELECT SeriesInstanceUID FROM " ~ cte ~ ")", with_body_part) }}
    WHERE TRUE{{ seg_index_filters(f) }}
{%- else %}
    {#- the file's rows are not restricted to `cte` here: the caller joins them with it, and a
        second reading of `cte` would make DuckDB materialize it (~40% of a series query) #}
    SELECT {{ seg_index_columns(with_arrays) }}
    FROM `local.main.idc_seg_index`
    WHERE TRUE{{ seg_index_filters(f, file=True) }}
    UNION ALL
    SELECT {{ seg_index_columns(with_arrays) }}
    FROM {{ seg_index_aggregate("SeriesInstanceUID IN (SELECT SeriesInstanceUID FROM " ~ cte ~ ") AND SeriesInstanceUID NOT IN (SELECT SeriesInstanceUID FROM `local.main.idc_seg_index`)", with_body_part) }}
    WHERE TRUE{{ seg_index_filters(f) }}
{%- endif %}
{%- endmacro -%}

{%- macro seg_index_columns(with_arrays) -%}
SeriesInstanceUID, SegmentationType, total_segments, AlgorithmType, AlgorithmName, segmented_SeriesInstanceUID,
      segmented_Modality, segmented_BodyPartExamined
{%- if with_arrays %},
      SegmentedPropertyCategory_CodeMeanings, SegmentedPropertyType_CodeMeanings, AnatomicRegion_CodeMeanings
{%- endif %}
{%- endmacro -%}

{#- The filters of `f` on the columns of one seg_index row, each as `AND ...`. A meaning filter
    matches one array element case-insensitively. file=True (embedded, IDC's seg_index file):
    the spellings that match are looked up in the file's list of distinct meanings, then the
    arrays are tested for those exact values; a LOWER() on each of millions of elements costs
    ~20 times more. -#}
{%- macro seg_index_filters(f, file=False) -%}
{%- if f %}
{%- for name, arr, kind in [
      ("structure", "SegmentedPropertyType_CodeMeanings", "type"),
      ("category", "SegmentedPropertyCategory_CodeMeanings", "category"),
      ("anatomy", "AnatomicRegion_CodeMeanings", "region")] if f[name] %}
{%- if file %}
      AND SeriesInstanceUID IN (
        SELECT s.SeriesInstanceUID
        FROM `local.main.idc_seg_index` AS s
        JOIN `local.main.idc_seg_index_meanings` AS m
          ON m.kind = '{{ kind }}'
          AND LOWER(m.meaning) IN UNNEST(@{{ name }}_meanings)
          AND m.meaning IN UNNEST(s.{{ arr }}))
{%- else %}
      AND EXISTS (SELECT 1 FROM UNNEST({{ arr }}) AS v WHERE LOWER(v) IN UNNEST(@{{ name }}_meanings))
{%- endif %}
{%- endfor %}
{%- if f.algorithm_type %}
      AND EXISTS (SELECT 1 FROM UNNEST(SPLIT(AlgorithmType, ',')) AS t WHERE t IN UNNEST(@algorithm_type))
{%- endif %}
{%- if f.algorithm_name %}
      {{- need("segmentations", "SegmentAlgorithmName") }}
      AND STRPOS(LOWER(AlgorithmName), LOWER(@algorithm_name)) > 0
{%- endif %}
{%- if f.min_segments %}
      AND total_segments >= @min_segments
{%- endif %}
{%- endif %}
{%- endmacro -%}

{%- macro selected_seg_series(f, with_source=True, with_arrays=False) -%}
{%- set with_body_part = with_source or f.body_part %}
  seg AS (
    {%- call idc.seg_series(with_body_part) %}SOPClassUID IN UNNEST(@sop_class_uids){{ idc.series_filters(f) }}{% endcall %}
  ),
{%- if with_source or f.body_part or f.seg_index %}
  seg_index AS (
{{- seg_index("seg", f, with_arrays, with_body_part) }}
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
      seg_index.segmented_Modality{% if with_body_part %},
      COALESCE(seg_index.segmented_BodyPartExamined, seg.BodyPartExamined) AS segmented_BodyPartExamined
{%- endif %}
    FROM seg
    {% if f.seg_index %}JOIN{% else %}LEFT JOIN{% endif %} seg_index ON seg_index.SeriesInstanceUID = seg.SeriesInstanceUID
    WHERE TRUE
{%- if f.body_part %}
      AND UPPER(COALESCE(seg_index.segmented_BodyPartExamined, seg.BodyPartExamined)) IN UNNEST(@body_part)
{%- endif %}
{%- if f.source_modality %}
      AND UPPER(seg_index.segmented_Modality) IN UNNEST(@source_modality)
{%- endif %}
  )
{%- else %}
  selected AS (
    SELECT * FROM seg
  )
{%- endif %}
{%- endmacro -%}

{#- Every study holding slide microscopy (~23,000 in IDC v25; they open in Slim). A list of all of
    them is cheaper than restricting it to some studies: the restriction would evaluate the
    selection a second time, and on BigQuery it reads the same columns either way. -#}
{%- macro sm_studies() -%}
  sm_studies AS (
    SELECT DISTINCT StudyInstanceUID
    FROM {{ idc.table("dicom_all") }}
    WHERE Modality = 'SM'
  )
{%- endmacro -%}
