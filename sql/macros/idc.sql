{#-
  macros/idc.sql — where IDC's tables are, and how series-level facts are read.

  table(name)            `bigquery-public-data.<dataset>.<name>`
  store_table(name)      a table of the local store (embedded engine only)
  column_or_null(t, c, expr)
                         `expr` when IDC table `t` has column `c` in this release, else NULL
                         (`has(t, c)` and `need(t, c)` are provided by idcseg.render: on the
                         embedded engine every column exists)
  seg_series()           series-level facts, one row per SeriesInstanceUID; the caller's body is
                         the WHERE condition. BigQuery's `dicom_all` has one row per instance
                         and is aggregated to series level (as idc-index-data builds idc_index)
                         before any join; the embedded `dicom_all` is IDC's series-level index
                         already. This is the one dialect difference between the engines.
  series_level(columns)  series-level facts of any series: SeriesInstanceUID, `columns` (IDC's
                         series-level column names), instanceCount and series_size_MB; the caller's
                         body is the WHERE condition (aggregated on BigQuery, as seg_series())
  series_filters(f)      AND-clauses of the series filters, for seg_series()'s body
-#}

{%- macro table(name) -%}
`bigquery-public-data.{{ dataset }}.{{ name }}`
{%- endmacro -%}

{%- macro store_table(name) -%}
`store.main.{{ name }}`
{%- endmacro -%}

{%- macro column_or_null(t, c, expr) -%}
{%- if has(t, c) %}{{ expr }}{% else %}CAST(NULL AS STRING){% endif -%}
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

{%- macro series_level(columns) -%}
{%- if target == "bigquery" %}
    SELECT
      SeriesInstanceUID,
{%- for column in columns %}
      ANY_VALUE({{ column }}) AS {{ column }},
{%- endfor %}
      COUNT(SOPInstanceUID) AS instanceCount,
      SUM(SAFE_CAST(instance_size AS FLOAT64)) / 1000000. AS series_size_MB
    FROM {{ table("dicom_all") }}
    WHERE {{ caller() }}
    GROUP BY SeriesInstanceUID
{%- else %}
    SELECT
      SeriesInstanceUID,
{%- for column in columns %}
      {{ column }},
{%- endfor %}
      instanceCount,
      series_size_MB
    FROM {{ table("dicom_all") }}
    WHERE {{ caller() }}
{%- endif %}
{%- endmacro -%}

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
      {#- a semi-join, not a membership test per row: lists of thousands of UIDs (downloads) #}
      AND SeriesInstanceUID IN (SELECT uid FROM UNNEST(@series) AS uid)
{%- endif %}
{%- if f.description %}
      AND STRPOS(LOWER(SeriesDescription), LOWER(@description)) > 0
{%- endif %}
{%- endmacro -%}
