{#-
  macros.sql — the few things every template shares.

  table(name)      fully qualified IDC table, e.g. `bigquery-public-data.idc_v25.segmentations`
  seg_series()     series-level facts of IDC series, one row per SeriesInstanceUID.
                   On BigQuery `dicom_all` has one row per instance, so it is aggregated
                   to series level (as idc-index-data builds idc_index) before any join.
                   The embedded engine's `dicom_all` is already series level (IDC's own
                   idc_index), so it is read as it is. This is the one dialect difference.
                   The caller's body is the WHERE condition on the instance/series rows.
  viewer_*()       IDC viewer URLs (OHIF v3, OHIF v2, Slim) as SQL expressions.
-#}

{%- macro table(name) -%}
`bigquery-public-data.{{ dataset }}.{{ name }}`
{%- endmacro -%}

{%- macro seg_series() -%}
{%- if target == "bigquery" %}
    SELECT
      SeriesInstanceUID,
      ANY_VALUE(collection_id) AS collection_id,
      ANY_VALUE(analysis_result_id) AS analysis_result_id,
      ANY_VALUE(PatientID) AS PatientID,
      ANY_VALUE(StudyInstanceUID) AS StudyInstanceUID,
      ANY_VALUE(Modality) AS Modality,
      ANY_VALUE(SOPClassUID) AS SOPClassUID,
      ANY_VALUE(NULLIF(SeriesDescription, '')) AS SeriesDescription,
      ANY_VALUE(BodyPartExamined) AS BodyPartExamined,
      ANY_VALUE(Manufacturer) AS Manufacturer,
      COUNT(SOPInstanceUID) AS instanceCount,
      SUM(SAFE_CAST(instance_size AS FLOAT64)) / 1000000. AS series_size_MB,
      ANY_VALUE(license_short_name) AS license_short_name,
      ANY_VALUE(source_DOI) AS source_DOI,
      ANY_VALUE(aws_bucket) AS aws_bucket,
      ANY_VALUE(crdc_series_uuid) AS crdc_series_uuid
    FROM {{ table("dicom_all") }}
    WHERE {{ caller() }}
    GROUP BY SeriesInstanceUID
{%- else %}
    SELECT
      SeriesInstanceUID,
      collection_id,
      analysis_result_id,
      PatientID,
      StudyInstanceUID,
      Modality,
      SOPClassUID,
      SeriesDescription,
      BodyPartExamined,
      Manufacturer,
      instanceCount,
      series_size_MB,
      license_short_name,
      source_DOI,
      aws_bucket,
      crdc_series_uuid
    FROM {{ table("dicom_all") }}
    WHERE {{ caller() }}
{%- endif %}
{%- endmacro -%}

{%- macro viewer_ohif_v3(study, series=None) -%}
CONCAT('https://viewer.imaging.datacommons.cancer.gov/v3/viewer/?StudyInstanceUIDs=', {{ study }}
{%- if series %}, '&initialSeriesInstanceUID=', {{ series }}{% endif %})
{%- endmacro -%}

{%- macro viewer_ohif_v2(study, series=None) -%}
CONCAT('https://viewer.imaging.datacommons.cancer.gov/viewer/', {{ study }}
{%- if series %}, '?SeriesInstanceUID=', {{ series }}{% endif %})
{%- endmacro -%}

{%- macro viewer_slim(study, series=None) -%}
CONCAT('https://viewer.imaging.datacommons.cancer.gov/slim/studies/', {{ study }}
{%- if series %}, '/series/', {{ series }}{% endif %})
{%- endmacro -%}

{#- The default link: Slim for studies holding slide microscopy, OHIF v3 otherwise. -#}
{%- macro viewer_url(study, series, has_sm) -%}
CASE WHEN {{ has_sm }} THEN {{ viewer_slim(study, series) }} ELSE {{ viewer_ohif_v3(study, series) }} END
{%- endmacro -%}

{#- OHIF v2 link opening a SEG together with the image series it segments (IDC's old viewer_url). -#}
{%- macro viewer_seg_with_source(study, seg_series, source_series) -%}
CONCAT('https://viewer.imaging.datacommons.cancer.gov/viewer/', {{ study }}, '?seriesInstanceUID=', {{ seg_series }}, ',', {{ source_series }})
{%- endmacro -%}

{#- Filters on series-level columns, for use inside seg_series(). -#}
{%- macro series_filters(f) -%}
{%- if f.collection %}
    AND LOWER(collection_id) IN UNNEST(@collection)
{%- endif %}
{%- if f.analysis_result %}
    AND LOWER(analysis_result_id) IN UNNEST(@analysis_result)
{%- endif %}
{%- if f.patient %}
    AND PatientID IN UNNEST(@patient)
{%- endif %}
{%- if f.study %}
    AND StudyInstanceUID IN UNNEST(@study)
{%- endif %}
{%- if f.series %}
    AND SeriesInstanceUID IN UNNEST(@series)
{%- endif %}
{%- if f.description %}
    AND STRPOS(LOWER(SeriesDescription), LOWER(@description)) > 0
{%- endif %}
{%- endmacro -%}


{#-
  seg_index(): IDC's series-level segmentation index, one row per SEG series:
    SeriesInstanceUID, SegmentationType, total_segments, AlgorithmType, AlgorithmName
    (comma-joined distinct values), segmented_SeriesInstanceUID, and arrays of the distinct
    CodeMeanings of SegmentedPropertyCategory, SegmentedPropertyType and AnatomicRegion.
  On BigQuery it is aggregated from `segmentations` the way idc-index-data builds seg_index.
  Embedded, it is IDC's published seg_index.parquet (`idcseg index fetch`) plus the same
  aggregation of locally stored segment rows for series that file does not describe.
-#}
{%- macro seg_index_aggregate(where=None) -%}
    SELECT
      SeriesInstanceUID,
      MIN(SegmentationType) AS SegmentationType,
      COUNT(DISTINCT SegmentNumber) AS total_segments,
      STRING_AGG(DISTINCT SegmentAlgorithmType, ',' ORDER BY SegmentAlgorithmType) AS AlgorithmType,
      STRING_AGG(DISTINCT SegmentAlgorithmName, ',' ORDER BY SegmentAlgorithmName) AS AlgorithmName,
      MIN(segmented_SeriesInstanceUID) AS segmented_SeriesInstanceUID,
      ARRAY_AGG(DISTINCT SegmentedPropertyCategory.CodeMeaning IGNORE NULLS ORDER BY SegmentedPropertyCategory.CodeMeaning) AS SegmentedPropertyCategory_CodeMeanings,
      ARRAY_AGG(DISTINCT SegmentedPropertyType.CodeMeaning IGNORE NULLS ORDER BY SegmentedPropertyType.CodeMeaning) AS SegmentedPropertyType_CodeMeanings,
      ARRAY_AGG(DISTINCT AnatomicRegion.CodeMeaning IGNORE NULLS ORDER BY AnatomicRegion.CodeMeaning) AS AnatomicRegion_CodeMeanings
    FROM {{ table("segmentations") }}
{%- if where %}
    WHERE {{ where }}
{%- endif %}
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

{#- Does the string array `arr` hold one of the lower-case values in @param? -#}
{%- macro any_meaning(arr, param) -%}
EXISTS (SELECT 1 FROM UNNEST({{ arr }}) AS v WHERE LOWER(v) IN UNNEST(@{{ param }}))
{%- endmacro -%}

{#-
  selected_seg_series(f): the CTEs every series-level template starts from.
    seg        SEG series (both SEG SOP classes) passing the series filters
    seg_index  their series-level segment summary (see seg_index())
    source     modality and body part of the image series they segment
    selected   seg + the seg_index columns + segmented_Modality and segmented_BodyPartExamined
               (of the segmented series where known, else the SEG's), with the filters on
               those columns applied
  with_source=False skips seg_index/source unless a filter needs them.
-#}
{%- macro selected_seg_series(f, with_source=True) -%}
  seg AS (
    {%- call seg_series() %}SOPClassUID IN UNNEST(@sop_class_uids){{ series_filters(f) }}{% endcall %}
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
    FROM {{ table("dicom_all") }}
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

{#- Studies (among those in `cte`) that hold a slide-microscopy series: they open in Slim. -#}
{%- macro sm_studies(cte) -%}
  sm_studies AS (
    SELECT DISTINCT StudyInstanceUID
    FROM {{ table("dicom_all") }}
    WHERE Modality = 'SM'
      AND StudyInstanceUID IN (SELECT StudyInstanceUID FROM {{ cte }})
  )
{%- endmacro -%}

{#- A table of the local store (embedded engine only): segment labels, ingested files. -#}
{%- macro store_table(name) -%}
`store.main.{{ name }}`
{%- endmacro -%}

{#-
  code_match(expr, name, m): does the code RECORD `expr` match code filter `name`?
  By (scheme, value) against @<name>_codes ("SCHEME:VALUE" strings), and/or by lower-case
  meaning against @<name>_meanings. `m` says which of the two parameters exist.
-#}
{%- macro code_match(expr, name, m) -%}
(
{%- if m.codes %}CONCAT({{ expr }}.CodingSchemeDesignator, ':', {{ expr }}.CodeValue) IN UNNEST(@{{ name }}_codes){% endif %}
{%- if m.codes and m.meanings %} OR {% endif %}
{%- if m.meanings %}LOWER({{ expr }}.CodeMeaning) IN UNNEST(@{{ name }}_meanings){% endif -%}
)
{%- endmacro -%}

{#-
  selected_segments(f, g): the CTEs every segment-level template starts from.
    segments      rows of `segmentations` passing the segment filters `g` (label maps'
                  Background segment 0 is never a structure, so it is left out)
    series_facts  series-level facts of their SEG series (collection, analysis result, ...),
                  with the series filters `f` applied
    labels        SegmentLabel / SegmentDescription of those segments (IDC's view lacks them:
                  on BigQuery they come from dicom_all.SegmentSequence, embedded from the store)
    matched       segments joined to series_facts (inner join when a series filter is given)
-#}
{%- macro selected_segments(f, g) -%}
  segments AS (
    SELECT s.*
    FROM {{ table("segmentations") }} AS s
    WHERE NOT (
        s.SegmentNumber = 0
        AND s.SegmentedPropertyType.CodingSchemeDesignator = 'DCM'
        AND s.SegmentedPropertyType.CodeValue = '125040')
{%- if g.structure %}
      AND {{ code_match("s.SegmentedPropertyType", "structure", g.structure) }}
{%- endif %}
{%- if g.category %}
      AND {{ code_match("s.SegmentedPropertyCategory", "category", g.category) }}
{%- endif %}
{%- if g.anatomy %}
      AND {{ code_match("s.AnatomicRegion", "anatomy", g.anatomy) }}
{%- endif %}
{%- if g.modifier %}
      AND (
        {{ code_match("s.AnatomicRegionModifier", "modifier", g.modifier) }}
        OR EXISTS (
          SELECT 1
          FROM UNNEST(s.SegmentedPropertyType.SegmentedPropertyTypeModifierCodeSequence) AS m
          WHERE {{ code_match("m", "modifier", g.modifier) }}))
{%- endif %}
{%- if g.algorithm_type %}
      AND UPPER(s.SegmentAlgorithmType) IN UNNEST(@algorithm_type)
{%- endif %}
{%- if g.algorithm_name %}
      AND STRPOS(LOWER(s.SegmentAlgorithmName), LOWER(@algorithm_name)) > 0
{%- endif %}
{%- if f.series %}
      AND s.SeriesInstanceUID IN UNNEST(@series)
{%- endif %}
  ),
  series_facts AS (
    {%- call seg_series() %}SeriesInstanceUID IN (SELECT SeriesInstanceUID FROM segments){{ series_filters(f) }}{% endcall %}
  ),
  matched AS (
    SELECT
      series_facts.collection_id,
      series_facts.analysis_result_id,
      series_facts.crdc_series_uuid IS NOT NULL AS in_idc,
      segments.*
    FROM segments
    {% if f.collection or f.analysis_result or f.patient or f.study or f.description %}JOIN{% else %}LEFT JOIN{% endif %} series_facts
      ON series_facts.SeriesInstanceUID = segments.SeriesInstanceUID
  )
{%- endmacro -%}

{#- Segment labels of the segments in `cte` (columns SOPInstanceUID, SegmentNumber, SegmentLabel, SegmentDescription). -#}
{%- macro segment_labels(cte) -%}
{%- if target == "bigquery" %}
    SELECT d.SOPInstanceUID, seq.SegmentNumber, seq.SegmentLabel, seq.SegmentDescription
    FROM {{ table("dicom_all") }} AS d
    CROSS JOIN UNNEST(d.SegmentSequence) AS seq
    WHERE d.SOPInstanceUID IN (SELECT SOPInstanceUID FROM {{ cte }})
{%- else %}
    SELECT SOPInstanceUID, SegmentNumber, SegmentLabel, SegmentDescription
    FROM {{ store_table("segment_labels") }}
    WHERE SOPInstanceUID IN (SELECT SOPInstanceUID FROM {{ cte }})
{%- endif %}
{%- endmacro -%}

{#- The link for a SEG series: with the series it segments when known (OHIF v2), else OHIF v3; NULL outside IDC. -#}
{%- macro seg_link(study, seg, source, in_idc) -%}
CASE
    WHEN NOT {{ in_idc }} THEN NULL
    WHEN {{ source }} IS NOT NULL THEN {{ viewer_seg_with_source(study, seg, source) }}
    ELSE {{ viewer_ohif_v3(study, seg) }}
  END
{%- endmacro -%}
