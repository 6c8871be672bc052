{#-
  macros/idc.sql — where IDC's tables are, and how series-level facts are read.

  table(name)            `bigquery-public-data.<dataset>.<name>`
  store_table(name)      a table of the local store (embedded engine only)
  column_or_null(t, c, expr)
                         `expr` when IDC table `t` has column `c` in this release, else NULL
                         (`has(t, c)` and `need(t, c)` are provided by idcseg.render: on the
                         embedded engine every column exists)
  seg_series(with_body_part=True)
                         series-level facts, one row per SeriesInstanceUID; the caller's body is
                         the WHERE condition. BigQuery's `dicom_all` has one row per instance
                         and is aggregated to series level (as idc-index-data builds idc_index)
                         before any join; the embedded `dicom_all` is IDC's series-level index
                         already. This is the one dialect difference between the engines.
                         `source` is 'idc' for series IDC hosts, 'local' for your own SEGs.
                         BodyPartExamined (curated, see body_part()) only with_body_part.
  body_part_join(), body_part()
                         BodyPartExamined as IDC's series index holds it: on BigQuery the
                         curated value of `dicom_metadata_curated` (e.g. ABD -> ABDOMEN), joined
                         by SOPInstanceUID as idc-index-data builds idc_index (the raw
                         `dicom_all` value in a release without that view); embedded, the index's
                         own column. Add body_part_join() after `FROM dicom_all`, then read
                         body_part() in the select list.
  source(crdc_series_uuid)
                         'idc' when the series is hosted by IDC (it has a crdc_series_uuid),
                         else 'local' (SEGs you ingested that IDC does not have)
  series_level(columns)  series-level facts of any series: SeriesInstanceUID, `columns` (IDC's
                         series-level column names), instanceCount and series_size_MB; the caller's
                         body is the WHERE condition (aggregated on BigQuery, as seg_series()).
                         Embedded, the rows are found first and only theirs are read: given a
                         plain WHERE, DuckDB reads every column of the 1 M-row index (100 series:
                         0.18 s against 0.07 s on a new connection)
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

{%- set curated = target == "bigquery" and has("dicom_metadata_curated", "BodyPartExamined") -%}

{%- macro body_part_join() -%}
{%- if curated %}
    LEFT JOIN (
      SELECT SOPInstanceUID, BodyPartExamined AS curated_BodyPartExamined
      FROM {{ table("dicom_metadata_curated") }}
    ) USING (SOPInstanceUID)
{%- endif %}
{%- endmacro -%}

{%- macro body_part() -%}
{%- if curated %}curated_BodyPartExamined{% else %}BodyPartExamined{% endif -%}
{%- endmacro -%}

{%- macro source(crdc_series_uuid) -%}
CASE WHEN {{ crdc_series_uuid }} IS NOT NULL THEN 'idc' ELSE 'local' END
{%- endmacro -%}

{%- macro seg_series(with_body_part=True) -%}
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
{%- if with_body_part %}
      ANY_VALUE({{ body_part() }}) AS BodyPartExamined,
{%- endif %}
      ANY_VALUE(Manufacturer) AS Manufacturer,
      COUNT(SOPInstanceUID) AS instanceCount,
      SUM(SAFE_CAST(instance_size AS FLOAT64)) / 1000000. AS series_size_MB,
      ANY_VALUE(license_short_name) AS license_short_name,
      ANY_VALUE(source_DOI) AS source_DOI,
      ANY_VALUE(aws_bucket) AS aws_bucket,
      ANY_VALUE(crdc_series_uuid) AS crdc_series_uuid,
      {{ source("ANY_VALUE(crdc_series_uuid)") }} AS source
    FROM {{ table("dicom_all") }}
{%- if with_body_part %}{{ body_part_join() }}{% endif %}
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
{%- if with_body_part %}
      BodyPartExamined,
{%- endif %}
      Manufacturer,
      instanceCount,
      series_size_MB,
      license_short_name,
      source_DOI,
      aws_bucket,
      crdc_series_uuid,
      {{ source("crdc_series_uuid") }} AS source
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
    FROM `local.main.series_index`
    WHERE index_row IN (SELECT index_row FROM `local.main.series_index` WHERE {{ caller() }})
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
{%- if f.source == "idc" %}
      AND crdc_series_uuid IS NOT NULL
{%- elif f.source == "local" %}
      AND crdc_series_uuid IS NULL
{%- endif %}
{%- endmacro -%}
