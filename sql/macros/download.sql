{#-
  macros/download.sql — what downloads share.

  FACTS   the series-level columns a download reads for each series (beside SeriesInstanceUID,
          instanceCount and series_size_MB): folder layouts, licences, citations and the bucket
          location. `idcseg download --layout` may use each of them.
  collections_table(), analysis_results_table()
          IDC's collection and analysis-result tables (sources, DOIs, licences, citations) by
          the names each engine has: the embedded engine carries idc-index-data's names
          (collections_index, analysis_results_index), BigQuery the tables they are made from.
-#}
{% import "macros/idc.sql" as idc with context %}

{%- set FACTS = [
  "collection_id",
  "analysis_result_id",
  "PatientID",
  "StudyInstanceUID",
  "Modality",
  "SOPClassUID",
  "SeriesDescription",
  "SeriesNumber",
  "SeriesDate",
  "StudyDate",
  "StudyDescription",
  "BodyPartExamined",
  "Manufacturer",
  "license_short_name",
  "source_DOI",
  "aws_bucket",
  "crdc_series_uuid",
] -%}

{%- macro collections_table() -%}
{%- if target == "bigquery" %}{{ idc.table("original_collections_metadata") }}{% else %}{{ idc.table("collections_index") }}{% endif -%}
{%- endmacro -%}

{%- macro analysis_results_table() -%}
{%- if target == "bigquery" %}{{ idc.table("analysis_results_metadata") }}{% else %}{{ idc.table("analysis_results_index") }}{% endif -%}
{%- endmacro -%}
