-- series_by_uuid.sql — series named by the bucket folder of their objects (crdc_series_uuid), as
-- s5cmd manifests (IDC's portal, idc-index) name them.
--
-- Returns: the columns of download_series.sql, one row per folder found. The embedded engine also
--   finds series of earlier IDC releases (idc-index-data's prior_versions_index: their objects
--   stay in the buckets), with the facts that index keeps (the others NULL).
--
-- Parameters:
--   @uuids  ARRAY<STRING>  crdc_series_uuid values
{% import "macros/idc.sql" as idc with context -%}
{% import "macros/download.sql" as download with context -%}
{%- set prior_columns = ["collection_id", "PatientID", "StudyInstanceUID", "Modality", "aws_bucket", "crdc_series_uuid"] -%}
WITH
  current_series AS (
{%- call idc.series_level(download.FACTS) %}crdc_series_uuid IN (SELECT uuid FROM UNNEST(@uuids) AS uuid){% endcall %}
  )
SELECT *
FROM current_series
{%- if target == "duckdb" %}
UNION ALL
SELECT
  SeriesInstanceUID,
{%- for column in download.FACTS %}
  {% if column in prior_columns %}{{ column }}{% else %}CAST(NULL AS STRING) AS {{ column }}{% endif %},
{%- endfor %}
  CAST(NULL AS INT64) AS instanceCount,
  series_size_MB
FROM {{ idc.table("prior_versions_index") }}
WHERE crdc_series_uuid IN (SELECT uuid FROM UNNEST(@uuids) AS uuid)
  AND crdc_series_uuid NOT IN (SELECT crdc_series_uuid FROM current_series)
{%- endif %}
ORDER BY crdc_series_uuid
